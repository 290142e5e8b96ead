package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestOpenNoFollowRefusesSymlinks(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel     string
		wantErr string
	}{
		{rel: "a/b"},
		{rel: "."},
		{rel: "link/b", wantErr: "turned into a symlink"},
		{rel: "link", wantErr: "turned into a symlink"},
		{rel: "a/missing", wantErr: "no such file"},
	}
	for _, tt := range tests {
		fd, err := openNoFollow(root, tt.rel)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error = %v, want %q", tt.rel, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.rel, err)
			continue
		}
		_ = unix.Close(fd)
	}
}

func TestMountSubPath(t *testing.T) {
	env := []*runtimeapi.KeyValue{{Key: "POD", Value: []byte("p1")}, {Key: "EMPTY"}}
	tests := []struct {
		vm      v1.VolumeMount
		want    string
		wantErr string
	}{
		{vm: v1.VolumeMount{}, want: ""},
		{vm: v1.VolumeMount{SubPath: "a/b"}, want: "a/b"},
		{vm: v1.VolumeMount{SubPathExpr: "logs/$(POD)"}, want: "logs/p1"},
		{vm: v1.VolumeMount{SubPathExpr: "$(EMPTY)/$(NONE)/$(NONE)"}, wantErr: "missing value for EMPTY, NONE"},
		{vm: v1.VolumeMount{SubPathExpr: "$(POD)/../.."}, wantErr: "must not contain '..'"},
		{vm: v1.VolumeMount{SubPath: "/abs"}, wantErr: "must not be an absolute path"},
	}
	for _, tt := range tests {
		got, err := mountSubPath(tt.vm, env)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: error = %v, want %q", tt.vm, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%+v: got %q, %v; want %q", tt.vm, got, err, tt.want)
		}
	}
}

func TestMountOptions(t *testing.T) {
	privileged := &v1.Container{Name: "c", SecurityContext: &v1.SecurityContext{Privileged: ptr.To(true)}}
	plain := &v1.Container{Name: "c"}
	prop := func(m v1.MountPropagationMode) *v1.MountPropagationMode { return &m }
	rro := func(m v1.RecursiveReadOnlyMode) *v1.RecursiveReadOnlyMode { return &m }

	propTests := []struct {
		mode    *v1.MountPropagationMode
		c       *v1.Container
		want    runtimeapi.MountPropagation
		wantErr bool
	}{
		{mode: nil, c: plain, want: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
		{mode: prop(v1.MountPropagationNone), c: plain, want: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
		{mode: prop(v1.MountPropagationHostToContainer), c: plain, want: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{mode: prop(v1.MountPropagationBidirectional), c: privileged, want: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		{mode: prop(v1.MountPropagationBidirectional), c: plain, wantErr: true},
		{mode: prop("Sideways"), c: plain, wantErr: true},
	}
	for _, tt := range propTests {
		got, err := criPropagation(tt.mode, tt.c)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("propagation %v: got %v, %v", tt.mode, got, err)
		}
	}

	rroTests := []struct {
		vm        v1.VolumeMount
		supported bool
		want      bool
		wantErr   string
	}{
		{vm: v1.VolumeMount{Name: "v", ReadOnly: true}, want: false},
		{vm: v1.VolumeMount{Name: "v", ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyIfPossible)}, supported: true, want: true},
		{vm: v1.VolumeMount{Name: "v", ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyIfPossible)}, want: false},
		{vm: v1.VolumeMount{Name: "v", ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyEnabled)}, supported: true, want: true},
		{vm: v1.VolumeMount{Name: "v", ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyEnabled)}, wantErr: "not supported by the runtime"},
		{vm: v1.VolumeMount{Name: "v", RecursiveReadOnly: rro(v1.RecursiveReadOnlyEnabled)}, supported: true, wantErr: "it is not read-only"},
		{vm: v1.VolumeMount{Name: "v", ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyEnabled), MountPropagation: prop(v1.MountPropagationHostToContainer)},
			supported: true, wantErr: "not compatible with propagation"},
	}
	for _, tt := range rroTests {
		got, err := recursiveReadOnly(tt.vm, tt.supported)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: error = %v, want %q", tt.vm, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%+v: got %v, %v; want %v", tt.vm, got, err, tt.want)
		}
	}
}

func TestHostsMount(t *testing.T) {
	m := NewManager(t.TempDir(), newFakeSources())
	tests := []struct {
		name   string
		spec   v1.PodSpec
		mounts []v1.VolumeMount
		want   bool
	}{
		{name: "pod network", want: true},
		{name: "host network", spec: v1.PodSpec{HostNetwork: true}, want: false},
		{name: "host network with aliases", spec: v1.PodSpec{HostNetwork: true, HostAliases: []v1.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"a"}}}}, want: true},
		{name: "container mounts its own /etc/hosts", spec: v1.PodSpec{Volumes: []v1.Volume{{Name: "h", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}},
			mounts: []v1.VolumeMount{{Name: "h", MountPath: "/etc/hosts"}}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := basePod()
			pod.UID = "hosts-" + uidFor(tt.name)
			pod.Spec.HostNetwork, pod.Spec.HostAliases, pod.Spec.Volumes = tt.spec.HostNetwork, tt.spec.HostAliases, tt.spec.Volumes
			if err := m.Setup(t.Context(), pod); err != nil {
				t.Fatal(err)
			}
			mounts, err := m.Mounts(pod, &v1.Container{Name: "c", VolumeMounts: tt.mounts}, "/p/etc-hosts")
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, mt := range mounts {
				if mt.ContainerPath == "/etc/hosts" && mt.HostPath == "/p/etc-hosts" {
					got = true
				}
			}
			if got != tt.want {
				t.Errorf("hosts mounted = %v, want %v (%v)", got, tt.want, mounts)
			}
			if err := m.Teardown(pod.UID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func uidFor(name string) k8stypes.UID { return k8stypes.UID(strings.ReplaceAll(name, " ", "-")) }
