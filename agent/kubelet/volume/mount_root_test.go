package volume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// newRootManager returns a manager over a fresh pods dir whose pod mounts
// are all gone when the test ends, whatever happened.
func newRootManager(t *testing.T, src Sources, uids ...types.UID) (*Manager, string) {
	t.Helper()
	requireRoot(t)
	podsDir := t.TempDir()
	m := NewManager(podsDir, src)
	t.Cleanup(func() {
		for _, uid := range uids {
			if err := m.Teardown(uid); err != nil {
				t.Errorf("teardown: %v", err)
			}
		}
		if left, err := mountPointsUnder(podsDir); err != nil || len(left) > 0 {
			t.Errorf("mounts left under %s: %v %v", podsDir, left, err)
			for _, p := range left {
				_ = unix.Unmount(p, unix.MNT_DETACH)
			}
		}
	})
	return m, podsDir
}

func fsType(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Type)
}

// kubeAPIAccess is the volume the API server's admission adds to pods.
func kubeAPIAccess() v1.Volume {
	return v1.Volume{Name: "kube-api-access-x7k2p", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o644),
		Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

func TestTmpfsVolumes(t *testing.T) {
	src := newFakeSources()
	src.configMaps["shop/kube-root-ca.crt"] = &v1.ConfigMap{Data: map[string]string{"ca.crt": "CA PEM"}}
	src.secrets["shop/creds"] = &v1.Secret{Data: map[string][]byte{"password": []byte("hunter2")}}
	pod := basePod()
	pod.Spec.Volumes = []v1.Volume{
		kubeAPIAccess(),
		{Name: "creds", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr.To[int32](0o400)}}},
		{Name: "cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("8Mi"))}}},
		{Name: "bound-token", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Audience: "vault", ExpirationSeconds: ptr.To[int64](600), Path: "vault/token"}},
		}}}},
	}
	m, podsDir := newRootManager(t, src, pod.UID)
	ctx := context.Background()
	if err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	volDir := filepath.Join(podsDir, string(pod.UID), "volumes")

	api := filepath.Join(volDir, pluginProjected, "kube-api-access-x7k2p")
	if fsType(t, api) != unix.TMPFS_MAGIC {
		t.Error("projected volume is not on tmpfs")
	}
	for path, want := range map[string]string{"token": "token-shop-builder-1", "ca.crt": "CA PEM", "namespace": "shop"} {
		if got := readFile(t, filepath.Join(api, path)); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if len(src.requests) != 2 {
		t.Fatalf("token requests = %d, want 2", len(src.requests))
	}
	r := src.requests[0]
	wantRef := authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "web-0", UID: pod.UID}
	if r.Spec.BoundObjectRef == nil || *r.Spec.BoundObjectRef != wantRef || *r.Spec.ExpirationSeconds != 3607 || len(r.Spec.Audiences) != 0 {
		t.Errorf("token request = %+v", r.Spec)
	}
	if aud := src.requests[1].Spec.Audiences; len(aud) != 1 || aud[0] != "vault" {
		t.Errorf("audience = %v", aud)
	}
	if got := readFile(t, filepath.Join(volDir, pluginProjected, "bound-token", "vault", "token")); got != "token-shop-builder-2" {
		t.Errorf("vault token = %q", got)
	}

	secret := filepath.Join(volDir, pluginSecret, "creds")
	if fsType(t, secret) != unix.TMPFS_MAGIC {
		t.Error("secret volume is not on tmpfs")
	}
	if info, err := os.Stat(filepath.Join(secret, "password")); err != nil || info.Mode().Perm() != 0o400 {
		t.Errorf("secret file: %v %v", info, err)
	}

	cache := filepath.Join(volDir, pluginEmptyDir, "cache")
	var st unix.Statfs_t
	if err := unix.Statfs(cache, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("memory emptyDir is not tmpfs: %v", err)
	}
	if size := int64(st.Blocks) * st.Bsize; size != 8<<20 {
		t.Errorf("tmpfs size = %d, want 8Mi", size)
	}

	// Syncing again mounts nothing new and asks for no new token.
	before, _ := mountPointsUnder(podsDir)
	if err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	after, _ := mountPointsUnder(podsDir)
	if len(before) != 4 || len(after) != len(before) {
		t.Errorf("mounts before %v after %v, want the same 4", before, after)
	}
	if src.tokenRequests() != 2 {
		t.Errorf("token requests after resync = %d, want 2", src.tokenRequests())
	}

	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if left, _ := mountPointsUnder(podsDir); len(left) != 0 {
		t.Errorf("mounts left after teardown: %v", left)
	}
	if _, err := os.Stat(volDir); !os.IsNotExist(err) {
		t.Errorf("volumes dir after teardown: %v", err)
	}
}

func TestFsGroupAndUser(t *testing.T) {
	src := newFakeSources()
	src.configMaps["shop/kube-root-ca.crt"] = &v1.ConfigMap{Data: map[string]string{"ca.crt": "CA"}}
	pod := basePod()
	pod.Spec.SecurityContext = &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](3000)}
	pod.Spec.Volumes = []v1.Volume{kubeAPIAccess(), {Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	m, podsDir := newRootManager(t, src, pod.UID)
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	volDir := filepath.Join(podsDir, string(pod.UID), "volumes")
	info, err := os.Stat(filepath.Join(volDir, pluginProjected, "kube-api-access-x7k2p", "token"))
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := fileOwner(info)
	if info.Mode().Perm() != 0o640 || uid != 1000 || gid != 3000 {
		t.Errorf("token: mode %v uid %d gid %d, want 0640 1000 3000", info.Mode().Perm(), uid, gid)
	}
	info, err = os.Stat(filepath.Join(volDir, pluginEmptyDir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if _, gid := fileOwner(info); gid != 3000 || info.Mode()&os.ModeSetgid == 0 {
		t.Errorf("emptyDir: gid %d mode %v, want group 3000 with setgid", gid, info.Mode())
	}
}

func TestSubPath(t *testing.T) {
	src := newFakeSources()
	src.configMaps["shop/settings"] = &v1.ConfigMap{Data: map[string]string{"app.conf": "x=1"}}
	pod := basePod()
	pod.Spec.Volumes = []v1.Volume{
		{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "settings"}}}},
	}
	m, podsDir := newRootManager(t, src, pod.UID)
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(podsDir, string(pod.UID), "volumes", pluginEmptyDir, "data")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "host-secret"), []byte("do not mount"), 0o600); err != nil {
		t.Fatal(err)
	}
	// What a malicious container could leave in its volume.
	if err := os.Symlink(outside, filepath.Join(data, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(data, "root")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(data, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(data, "inside")); err != nil {
		t.Fatal(err)
	}

	env := []*runtimeapi.KeyValue{{Key: "POD_NAME", Value: []byte("web-0")}}
	tests := []struct {
		name      string
		vm        v1.VolumeMount
		wantErr   string
		wantFile  string // a file to find in the mounted subPath
		checkPath string // path (relative to volume) that must now exist
	}{
		{name: "new nested directory", vm: v1.VolumeMount{Name: "data", MountPath: "/logs", SubPath: "logs/app"}, checkPath: "logs/app"},
		{name: "expr", vm: v1.VolumeMount{Name: "data", MountPath: "/per-pod", SubPathExpr: "pods/$(POD_NAME)"}, checkPath: "pods/web-0"},
		{name: "expr with missing var", vm: v1.VolumeMount{Name: "data", MountPath: "/x", SubPathExpr: "$(NOPE)/x"}, wantErr: "missing value for NOPE"},
		{name: "file of configmap", vm: v1.VolumeMount{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"}, wantFile: "x=1"},
		{name: "symlink inside the volume", vm: v1.VolumeMount{Name: "data", MountPath: "/in", SubPath: "inside"}},
		{name: "symlink out of the volume", vm: v1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "escape"}, wantErr: `failed to prepare subPath for volumeMount "data" of container "app"`},
		{name: "symlink to root", vm: v1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "root/etc"}, wantErr: "failed to prepare subPath"},
		{name: "dot-dot", vm: v1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "a/../../x"}, wantErr: "must not contain '..'"},
		{name: "absolute", vm: v1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "/etc"}, wantErr: "must not be an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &v1.Container{Name: "app", VolumeMounts: []v1.VolumeMount{tt.vm}}
			mounts, err := m.ContainerMounts(pod, c, MountOptions{Env: env})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			host := mounts[0].HostPath
			if !strings.HasPrefix(host, filepath.Join(podsDir, string(pod.UID), "volume-subpaths", tt.vm.Name, "app")+"/") {
				t.Fatalf("subPath host path %s is not a prepared bind mount", host)
			}
			if ok, err := isMountPoint(host); err != nil || !ok {
				t.Fatalf("%s is not mounted: %v", host, err)
			}
			if tt.wantFile != "" {
				if got := readFile(t, host); got != tt.wantFile {
					t.Errorf("mounted file = %q", got)
				}
			}
			if tt.checkPath != "" {
				if info, err := os.Stat(filepath.Join(data, tt.checkPath)); err != nil || !info.IsDir() || info.Mode().Perm() != 0o777 {
					t.Errorf("subPath dir: %v %v, want a 0777 directory", info, err)
				}
				// Writing through the bind mount lands in the volume.
				if err := os.WriteFile(filepath.Join(host, "probe"), []byte("hi"), 0o644); err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, filepath.Join(data, tt.checkPath, "probe")); got != "hi" {
					t.Errorf("write through subPath = %q", got)
				}
			}
			// Preparing again (a container restart) replaces the mount.
			if _, err := m.ContainerMounts(pod, c, MountOptions{Env: env}); err != nil {
				t.Fatalf("second prepare: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "host-secret")); err != nil {
		t.Errorf("file outside the volume touched: %v", err)
	}
}

func TestLocalPersistentVolume(t *testing.T) {
	src := newFakeSources()
	local := t.TempDir()
	hostPV := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "db"), []byte("rows"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := basePod()
	bound := func(name, pv string, uid types.UID) *v1.PersistentVolumeClaim {
		return &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid},
			Spec: v1.PersistentVolumeClaimSpec{VolumeName: pv}, Status: v1.PersistentVolumeClaimStatus{Phase: v1.ClaimBound}}
	}
	src.claims["shop/data"] = bound("data", "pv-local", "claim-1")
	src.claims["shop/logs"] = bound("logs", "pv-host", "claim-2")
	src.claims["shop/web-0-scratch"] = bound("web-0-scratch", "pv-host2", "claim-3")
	src.claims["shop/stolen"] = bound("stolen", "pv-host", "claim-4")
	src.volumes["pv-local"] = &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-local"}, Spec: v1.PersistentVolumeSpec{
		ClaimRef:               &v1.ObjectReference{UID: "claim-1"},
		PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: local}}}}
	src.volumes["pv-host"] = &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-host"}, Spec: v1.PersistentVolumeSpec{
		ClaimRef:               &v1.ObjectReference{UID: "claim-2"},
		PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostPV}}}}
	src.volumes["pv-host2"] = &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-host2"}, Spec: v1.PersistentVolumeSpec{
		ClaimRef:               &v1.ObjectReference{UID: "claim-3"},
		PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostPV}}}}
	pod.Spec.Volumes = []v1.Volume{
		{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		{Name: "logs", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "logs", ReadOnly: true}}},
	}
	m, podsDir := newRootManager(t, src, pod.UID)
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(podsDir, string(pod.UID), "volumes", pluginLocal, "pv-local")
	if got := readFile(t, filepath.Join(target, "db")); got != "rows" {
		t.Errorf("local volume content = %q", got)
	}
	c := &v1.Container{Name: "app", VolumeMounts: []v1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "logs", MountPath: "/logs"}}}
	mounts, err := m.Mounts(pod, c, "")
	if err != nil {
		t.Fatal(err)
	}
	if mounts[0].HostPath != target || mounts[0].Readonly || mounts[1].HostPath != hostPV || !mounts[1].Readonly {
		t.Errorf("mounts = %v", mounts)
	}

	// A claim whose volume is bound to another claim is refused.
	other := basePod()
	other.UID = "other-uid"
	other.Spec.Volumes = []v1.Volume{{Name: "v", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "stolen"}}}}
	if err := m.Setup(context.Background(), other); err == nil || !strings.Contains(err.Error(), "not bound to this claim") {
		t.Errorf("stolen claim: %v", err)
	}
	// A generic ephemeral volume needs a claim the pod owns.
	other.Spec.Volumes = []v1.Volume{{Name: "scratch", VolumeSource: v1.VolumeSource{Ephemeral: &v1.EphemeralVolumeSource{}}}}
	other.Name = "web-0"
	if err := m.Setup(context.Background(), other); err == nil || !strings.Contains(err.Error(), "was not created for pod") {
		t.Errorf("foreign ephemeral claim: %v", err)
	}
	src.claims["shop/web-0-scratch"].OwnerReferences = []metav1.OwnerReference{{UID: other.UID, Controller: ptr.To(true), Name: "web-0", Kind: "Pod"}}
	if err := m.Setup(context.Background(), other); err != nil {
		t.Errorf("owned ephemeral claim: %v", err)
	}
	if err := m.Teardown(other.UID); err != nil {
		t.Fatal(err)
	}

	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(local, "db")); got != "rows" {
		t.Errorf("local volume data lost by teardown: %q", got)
	}
}

func TestTeardownAfterRestart(t *testing.T) {
	src := newFakeSources()
	src.secrets["shop/creds"] = &v1.Secret{Data: map[string][]byte{"k": []byte("v")}}
	pod := basePod()
	pod.Spec.Volumes = []v1.Volume{{Name: "creds", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "creds"}}}}
	first, podsDir := newRootManager(t, src, pod.UID)
	if err := first.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	// A new kubelet process knows nothing but the directory.
	second := NewManager(podsDir, src)
	if err := second.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if left, _ := mountPointsUnder(podsDir); len(left) != 0 {
		t.Errorf("mounts left: %v", left)
	}
}
