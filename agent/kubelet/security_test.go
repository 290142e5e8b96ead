package kubelet

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestVerifyRunAsNonRoot(t *testing.T) {
	yes, zero, thousand := true, int64(0), int64(1000)
	tests := []struct {
		name    string
		sc      *v1.SecurityContext
		img     imageUser
		wantErr string
	}{
		{name: "not asked", sc: &v1.SecurityContext{}, img: imageUser{UID: &zero}},
		{name: "runAsUser 0", sc: &v1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &zero}, wantErr: "runAsUser breaks non-root policy"},
		{name: "runAsUser 1000", sc: &v1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &thousand}, img: imageUser{UID: &zero}},
		{name: "image root uid", sc: &v1.SecurityContext{RunAsNonRoot: &yes}, img: imageUser{UID: &zero}, wantErr: "image will run as root"},
		{name: "image no user", sc: &v1.SecurityContext{RunAsNonRoot: &yes}, wantErr: "image will run as root"},
		{name: "image uid 1000", sc: &v1.SecurityContext{RunAsNonRoot: &yes}, img: imageUser{UID: &thousand}},
		{name: "image numeric name", sc: &v1.SecurityContext{RunAsNonRoot: &yes}, img: imageUser{Username: "65534"}},
		{name: "image named user", sc: &v1.SecurityContext{RunAsNonRoot: &yes}, img: imageUser{Username: "nobody"}, wantErr: "non-numeric user (nobody)"},
	}
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	for _, tt := range tests {
		err := verifyRunAsNonRoot(pod, &pod.Spec.Containers[0], tt.sc, tt.img)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestLinuxSecurityContext(t *testing.T) {
	no, yes, uid, gid, fsGroup := false, true, int64(1000), int64(3000), int64(2000)
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	pod.Spec.HostPID = true
	pod.Spec.SecurityContext = &v1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, FSGroup: &fsGroup, SupplementalGroups: []int64{5}}
	pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{
		AllowPrivilegeEscalation: &no,
		ReadOnlyRootFilesystem:   &yes,
		Capabilities:             &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}, Drop: []v1.Capability{"ALL"}},
		SeccompProfile:           &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
	}
	sc := effectiveSecurityContext(pod, &pod.Spec.Containers[0])
	got := linuxSecurityContext(pod, sc, "/var/lib/kite/agent/seccomp")
	if !got.NoNewPrivs || !got.ReadonlyRootfs || got.Privileged {
		t.Errorf("flags = %+v", got)
	}
	if got.RunAsUser.GetValue() != 1000 || got.RunAsGroup.GetValue() != 3000 {
		t.Errorf("user/group = %v/%v", got.RunAsUser, got.RunAsGroup)
	}
	if len(got.SupplementalGroups) != 2 || got.SupplementalGroups[0] != 5 || got.SupplementalGroups[1] != 2000 {
		t.Errorf("supplemental groups = %v", got.SupplementalGroups)
	}
	if got.Capabilities.AddCapabilities[0] != "NET_ADMIN" || got.Capabilities.DropCapabilities[0] != "ALL" {
		t.Errorf("capabilities = %+v", got.Capabilities)
	}
	if got.NamespaceOptions.Pid != runtimeapi.NamespaceMode_NODE || got.NamespaceOptions.Network != runtimeapi.NamespaceMode_POD {
		t.Errorf("namespaces = %+v", got.NamespaceOptions)
	}
	if got.Seccomp.ProfileType != runtimeapi.SecurityProfile_RuntimeDefault {
		t.Errorf("seccomp = %+v", got.Seccomp)
	}
	local := "profiles/audit.json"
	p := seccompProfile(&v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: &local}, "/d/seccomp")
	if p.LocalhostRef != "/d/seccomp/profiles/audit.json" {
		t.Errorf("localhost profile = %q", p.LocalhostRef)
	}
}
