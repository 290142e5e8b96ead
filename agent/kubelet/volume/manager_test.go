package volume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func basePod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop", UID: "0e6d1c1a-uid", Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{
			ServiceAccountName: "builder",
			Containers: []v1.Container{{
				Name:      "app",
				Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}},
			}},
		},
	}
}

// TestSetupDiskVolumes covers the volumes that need no mounts.
func TestSetupDiskVolumes(t *testing.T) {
	podsDir := t.TempDir()
	hostDir := t.TempDir()
	src := newFakeSources()
	src.configMaps["shop/settings"] = &v1.ConfigMap{
		Data:       map[string]string{"app.conf": "level=3\n", "other": "x"},
		BinaryData: map[string][]byte{"blob.bin": {0, 1, 2}},
	}
	pod := basePod()
	pod.Spec.Volumes = []v1.Volume{
		{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir, Type: ptr.To(v1.HostPathDirectory)}}},
		{Name: "all-keys", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
			LocalObjectReference: v1.LocalObjectReference{Name: "settings"}}}},
		{Name: "some-keys", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
			LocalObjectReference: v1.LocalObjectReference{Name: "settings"},
			Items:                []v1.KeyToPath{{Key: "app.conf", Path: "etc/app.conf", Mode: ptr.To[int32](0o600)}},
			DefaultMode:          ptr.To[int32](0o640),
		}}},
		{Name: "optional-missing", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
			LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}}},
		{Name: "podinfo", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "mem", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		}}}},
	}
	m := NewManager(podsDir, src)
	ctx := context.Background()
	if err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	volDir := filepath.Join(podsDir, string(pod.UID), "volumes")

	info, err := os.Stat(filepath.Join(volDir, pluginEmptyDir, "scratch"))
	if err != nil || info.Mode().Perm() != 0o777 {
		t.Errorf("emptyDir: %v %v, want mode 0777", info, err)
	}
	cm := filepath.Join(volDir, pluginConfigMap)
	for path, want := range map[string]string{
		"all-keys/app.conf":      "level=3\n",
		"all-keys/other":         "x",
		"all-keys/blob.bin":      "\x00\x01\x02",
		"some-keys/etc/app.conf": "level=3\n",
	} {
		if got := readFile(t, filepath.Join(cm, path)); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(cm, "some-keys", "other")); !os.IsNotExist(err) {
		t.Errorf("unlisted key projected: %v", err)
	}
	if info, err := os.Stat(filepath.Join(cm, "some-keys", "etc", "app.conf")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("item mode = %v (%v), want 0600", info.Mode().Perm(), err)
	}
	if entries, _ := os.ReadDir(filepath.Join(cm, "optional-missing")); len(entries) != 2 {
		t.Errorf("optional missing configmap volume has %d entries, want ..data and its empty version", len(entries))
	}
	dapi := filepath.Join(volDir, pluginDownwardAPI, "podinfo")
	for path, want := range map[string]string{"labels": `app="web"`, "name": "web-0", "mem": "64"} {
		if got := readFile(t, filepath.Join(dapi, path)); got != want {
			t.Errorf("downwardAPI %s = %q, want %q", path, got, want)
		}
	}

	// An update reaches the volume on the next Setup.
	src.configMaps["shop/settings"].Data["app.conf"] = "level=4\n"
	if err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(cm, "all-keys", "app.conf")); got != "level=4\n" {
		t.Errorf("after update: %q", got)
	}

	c := &v1.Container{Name: "app", VolumeMounts: []v1.VolumeMount{
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "host", MountPath: "/host", ReadOnly: true, MountPropagation: ptr.To(v1.MountPropagationHostToContainer)},
		{Name: "all-keys", MountPath: "/etc/app"},
	}}
	mounts, err := m.Mounts(pod, c, "/pods/x/etc-hosts")
	if err != nil {
		t.Fatal(err)
	}
	want := []*runtimeapi.Mount{
		{ContainerPath: "/scratch", HostPath: filepath.Join(volDir, pluginEmptyDir, "scratch"), Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
		{ContainerPath: "/host", HostPath: hostDir, Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{ContainerPath: "/etc/app", HostPath: filepath.Join(cm, "all-keys"), Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
		{ContainerPath: "/etc/hosts", HostPath: "/pods/x/etc-hosts"},
	}
	if len(mounts) != len(want) {
		t.Fatalf("mounts = %v", mounts)
	}
	for i := range want {
		g, w := mounts[i], want[i]
		if g.ContainerPath != w.ContainerPath || g.HostPath != w.HostPath || g.Readonly != w.Readonly || g.Propagation != w.Propagation {
			t.Errorf("mount %d = %v, want %v", i, g, w)
		}
	}
	if p, ok := m.VolumePath(pod.UID, "scratch"); !ok || p != filepath.Join(volDir, pluginEmptyDir, "scratch") {
		t.Errorf("VolumePath = %q, %v", p, ok)
	}

	// A container's link out of its volume must not lead teardown astray.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(volDir, pluginEmptyDir, "scratch", "out")); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(volDir); !os.IsNotExist(err) {
		t.Errorf("volumes dir still there: %v", err)
	}
	if got := readFile(t, filepath.Join(outside, "keep")); got != "k" {
		t.Errorf("file behind a symlink = %q", got)
	}
	if _, err := os.Stat(hostDir); err != nil {
		t.Errorf("hostPath directory removed by teardown: %v", err)
	}
	if _, err := m.Mounts(pod, c, ""); err == nil {
		t.Error("Mounts after Teardown should fail")
	}
}

func TestSetupErrors(t *testing.T) {
	src := newFakeSources()
	src.configMaps["shop/settings"] = &v1.ConfigMap{Data: map[string]string{"a": "1"}}
	tests := []struct {
		name    string
		vol     v1.VolumeSource
		wantErr string
	}{
		{name: "missing configmap", vol: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}},
			wantErr: `MountVolume.SetUp failed for volume "v" : configmap "gone" not found`},
		{name: "missing key", vol: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "settings"}, Items: []v1.KeyToPath{{Key: "b", Path: "b"}}}},
			wantErr: "configmap references non-existent config key: b"},
		{name: "missing secret", vol: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "gone"}},
			wantErr: `secret "gone" not found`},
		{name: "hostPath type", vol: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/nonexistent/kite", Type: ptr.To(v1.HostPathDirectory)}},
			wantErr: "hostPath type check failed: /nonexistent/kite is not a directory"},
		{name: "unsupported", vol: v1.VolumeSource{NFS: &v1.NFSVolumeSource{Server: "s", Path: "/"}},
			wantErr: "volume type is not supported"},
		{name: "hugepages", vol: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumHugePages}},
			wantErr: `emptyDir medium "HugePages" is not supported`},
		{name: "unbound claim", vol: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}},
			wantErr: `PVC shop/data has non-bound phase ("Pending")`},
		{name: "missing claim", vol: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "nope"}},
			wantErr: `error processing PVC shop/nope: persistentvolumeclaims "nope" not found`},
	}
	src.claims["shop/data"] = &v1.PersistentVolumeClaim{Status: v1.PersistentVolumeClaimStatus{Phase: v1.ClaimPending}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(t.TempDir(), src)
			pod := basePod()
			pod.Spec.Volumes = []v1.Volume{
				{Name: "ok", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
				{Name: "v", VolumeSource: tt.vol},
			}
			err := m.Setup(context.Background(), pod)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			// The other volume is still set up.
			if _, ok := m.VolumePath(pod.UID, "ok"); !ok {
				t.Error("healthy volume not set up")
			}
			if _, ok := m.VolumePath(pod.UID, "v"); ok {
				t.Error("failed volume reported as set up")
			}
		})
	}
}

func TestFailedRefreshKeepsVolume(t *testing.T) {
	src := newFakeSources()
	src.configMaps["shop/settings"] = &v1.ConfigMap{Data: map[string]string{"a": "1"}}
	m := NewManager(t.TempDir(), src)
	pod := basePod()
	pod.Spec.Volumes = []v1.Volume{{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
		LocalObjectReference: v1.LocalObjectReference{Name: "settings"}}}}}
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	delete(src.configMaps, "shop/settings")
	if err := m.Setup(context.Background(), pod); err == nil {
		t.Fatal("refresh of a deleted configmap should report an error")
	}
	dir, ok := m.VolumePath(pod.UID, "cfg")
	if !ok {
		t.Fatal("volume forgotten after a failed refresh")
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "1" {
		t.Errorf("content after failed refresh = %q", got)
	}
}
