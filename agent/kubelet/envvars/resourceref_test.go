package envvars

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestContainerResourceValue(t *testing.T) {
	q := resource.MustParse
	app := v1.Container{
		Name: "app",
		Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: q("250m"), v1.ResourceMemory: q("64Mi"), "hugepages-2Mi": q("4Mi")},
			Limits:   v1.ResourceList{v1.ResourceCPU: q("1500m"), v1.ResourceMemory: q("128Mi"), "hugepages-2Mi": q("4Mi")},
		},
	}
	bare := v1.Container{Name: "bare"}
	initC := v1.Container{Name: "setup", Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: q("1Gi")}}}
	pod := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{app, bare}, InitContainers: []v1.Container{initC}}}
	podWithLimits := pod.DeepCopy()
	podWithLimits.Spec.Resources = &v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: q("512Mi")}}
	alloc := v1.ResourceList{v1.ResourceCPU: q("2"), v1.ResourceMemory: q("4Gi"), v1.ResourceEphemeralStorage: q("20Gi")}

	tests := []struct {
		name      string
		pod       *v1.Pod
		container *v1.Container
		ref       v1.ResourceFieldSelector
		want      string
		wantErr   string
	}{
		{name: "cpu limit rounds up to cores", container: &app, ref: v1.ResourceFieldSelector{Resource: "limits.cpu"}, want: "2"},
		{name: "cpu limit in millicores", container: &app, ref: v1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: q("1m")}, want: "1500"},
		{name: "cpu request", container: &app, ref: v1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: q("100m")}, want: "3"},
		{name: "memory limit bytes", container: &app, ref: v1.ResourceFieldSelector{Resource: "limits.memory"}, want: "134217728"},
		{name: "memory request Mi", container: &app, ref: v1.ResourceFieldSelector{Resource: "requests.memory", Divisor: q("1Mi")}, want: "64"},
		{name: "memory in Gi rounds up", container: &app, ref: v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: q("1Gi")}, want: "1"},
		{name: "hugepages", container: &app, ref: v1.ResourceFieldSelector{Resource: "limits.hugepages-2Mi", Divisor: q("1Mi")}, want: "4"},
		{name: "missing request is zero", container: &bare, ref: v1.ResourceFieldSelector{Resource: "requests.cpu"}, want: "0"},
		{name: "missing limit defaults to allocatable cpu", container: &bare, ref: v1.ResourceFieldSelector{Resource: "limits.cpu"}, want: "2"},
		{name: "missing limit defaults to allocatable storage", container: &bare, ref: v1.ResourceFieldSelector{Resource: "limits.ephemeral-storage", Divisor: q("1Gi")}, want: "20"},
		{name: "pod-level limit before allocatable", pod: podWithLimits, container: &bare, ref: v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: q("1Mi")}, want: "512"},
		{name: "by container name", container: &bare, ref: v1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: q("1Mi")}, want: "128"},
		{name: "init container by name", container: &bare, ref: v1.ResourceFieldSelector{ContainerName: "setup", Resource: "limits.memory", Divisor: q("1Mi")}, want: "1024"},
		{name: "unknown container", container: &bare, ref: v1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"}, wantErr: "container nope not found"},
		{name: "unsupported resource", container: &app, ref: v1.ResourceFieldSelector{Resource: "limits.gpu"}, wantErr: "unsupported container resource : limits.gpu"},
		{name: "malformed resource", container: &app, ref: v1.ResourceFieldSelector{Resource: "cpu"}, wantErr: "unsupported container resource : cpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.pod
			if p == nil {
				p = pod
			}
			got, err := ContainerResourceValue(&tt.ref, p, tt.container, alloc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestContainerResourceValueWithoutAllocatable(t *testing.T) {
	c := &v1.Container{Name: "bare"}
	got, err := ContainerResourceValue(&v1.ResourceFieldSelector{Resource: "limits.memory"}, &v1.Pod{}, c, nil)
	if err != nil || got != "0" {
		t.Errorf("got %q, %v; want 0", got, err)
	}
}
