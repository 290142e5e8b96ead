package volume

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestPodFsUser(t *testing.T) {
	withUser := func(u int64) *v1.SecurityContext { return &v1.SecurityContext{RunAsUser: ptr.To(u)} }
	tests := []struct {
		name string
		spec v1.PodSpec
		want *int64
	}{
		{name: "nobody says", spec: v1.PodSpec{Containers: []v1.Container{{}}}},
		{name: "pod level", spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, Containers: []v1.Container{{}, {}}}, want: ptr.To[int64](1000)},
		{name: "containers agree", spec: v1.PodSpec{Containers: []v1.Container{{SecurityContext: withUser(5)}, {SecurityContext: withUser(5)}}}, want: ptr.To[int64](5)},
		{name: "containers differ", spec: v1.PodSpec{Containers: []v1.Container{{SecurityContext: withUser(5)}, {SecurityContext: withUser(6)}}}},
		{name: "init container differs", spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
			InitContainers: []v1.Container{{SecurityContext: withUser(0)}}, Containers: []v1.Container{{}}}},
		{name: "one unset", spec: v1.PodSpec{Containers: []v1.Container{{SecurityContext: withUser(5)}, {}}}},
	}
	for _, tt := range tests {
		got := podFsUser(&v1.Pod{Spec: tt.spec})
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestImageVolumeMount(t *testing.T) {
	m := NewManager(t.TempDir(), newFakeSources())
	pod := basePod()
	pod.Spec.Volumes = []v1.Volume{{Name: "models", VolumeSource: v1.VolumeSource{Image: &v1.ImageVolumeSource{Reference: "example.com/models:1"}}}}
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	c := &v1.Container{Name: "c", VolumeMounts: []v1.VolumeMount{{Name: "models", MountPath: "/models", SubPath: "v1"}}}
	if _, err := m.ContainerMounts(pod, c, MountOptions{}); err == nil {
		t.Fatal("an image volume whose image is not pulled should be an error")
	}
	spec := &runtimeapi.ImageSpec{Image: "sha256:abc"}
	mounts, err := m.ContainerMounts(pod, c, MountOptions{ImageVolumes: map[string]*runtimeapi.ImageSpec{"models": spec}})
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].Image != spec || mounts[0].ImageSubPath != "v1" || !mounts[0].Readonly || mounts[0].HostPath != "" {
		t.Errorf("mounts = %v", mounts)
	}
	if _, ok := m.VolumePath(pod.UID, "models"); ok {
		t.Error("image volumes have no host path")
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
}

func TestClientSources(t *testing.T) {
	client := fake.NewClientset(
		&v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"}},
		&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}},
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}},
	)
	src := ClientSources(client)
	ctx := context.Background()
	if _, err := src.PersistentVolumeClaim(ctx, "ns", "data"); err != nil {
		t.Error(err)
	}
	if _, err := src.PersistentVolume(ctx, "pv1"); err != nil {
		t.Error(err)
	}
	if _, err := src.ConfigMap(ctx, "ns", "cm"); err != nil {
		t.Error(err)
	}
	if _, err := src.Secret(ctx, "ns", "nope"); err == nil || err.Error() != `secret "nope" not found` {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := src.PersistentVolumeClaim(ctx, "ns", "nope"); err == nil || err.Error() != `failed to fetch PVC from API server: persistentvolumeclaims "nope" not found` {
		t.Errorf("missing claim: %v", err)
	}
}
