package backends

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: "1", Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{NodeName: "n"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func TestEndpointsMayChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(*corev1.Pod)
		want   bool
	}{
		{"resync", func(p *corev1.Pod) { p.ResourceVersion = "1" }, false},
		{"unrelated status", func(p *corev1.Pod) { p.Status.Message = "hi" }, false},
		{"annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": "b"} }, false},
		{"labels", func(p *corev1.Pod) { p.Labels["app"] = "y" }, true},
		{"readiness", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"deletion", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }, true},
		{"address", func(p *corev1.Pod) { p.Status.PodIPs[0].IP = "10.0.0.2" }, true},
		{"finished", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, true},
		{"hostname", func(p *corev1.Pod) { p.Spec.Hostname = "h" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := basePod()
			cur := old.DeepCopy()
			cur.ResourceVersion = "2"
			tt.change(cur)
			if got := EndpointsMayChange(old, cur); got != tt.want {
				t.Fatalf("EndpointsMayChange = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestContainerPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := basePod()
	pod.Spec.Containers = []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}}
	pod.Spec.InitContainers = []corev1.Container{
		{Ports: []corev1.ContainerPort{{Name: "init", ContainerPort: 1, Protocol: corev1.ProtocolTCP}}},
		{RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "side", ContainerPort: 2, Protocol: corev1.ProtocolTCP}}},
	}
	tests := []struct {
		name   string
		port   corev1.ServicePort
		want   int32
		wantOK bool
	}{
		{"number", corev1.ServicePort{TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}, 8080, true},
		{"name and protocol", corev1.ServicePort{TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP}, 53, true},
		{"protocol differs", corev1.ServicePort{TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolTCP}, 0, false},
		{"sidecar", corev1.ServicePort{TargetPort: intstr.FromString("side"), Protocol: corev1.ProtocolTCP}, 2, true},
		{"plain init container", corev1.ServicePort{TargetPort: intstr.FromString("init"), Protocol: corev1.ProtocolTCP}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ContainerPort(pod, &tt.port)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("ContainerPort = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestIPs(t *testing.T) {
	pod := basePod()
	pod.Status.PodIPs = []corev1.PodIP{{IP: "010.000.000.001"}, {IP: "fd00::1"}}
	if got := IPs(pod, false); len(got) != 1 || got[0] != "10.0.0.1" {
		t.Fatalf("IPv4 = %v", got)
	}
	if got := IPs(pod, true); len(got) != 1 || got[0] != "fd00::1" {
		t.Fatalf("IPv6 = %v", got)
	}
}

func TestTriggerTimes(t *testing.T) {
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", CreationTimestamp: metav1.NewTime(created)}}
	readyAt := func(at time.Time) *corev1.Pod {
		p := basePod()
		p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(at)
		return p
	}
	tr := NewTriggerTimes()
	observe := func(pods ...*corev1.Pod) time.Time {
		at, published := tr.Observe("ns/s", svc, pods)
		published()
		return at
	}
	if got := observe(readyAt(created.Add(time.Hour))); !got.Equal(created) {
		t.Fatalf("first sync: %v, want the Service's creation", got)
	}
	if got := observe(readyAt(created.Add(time.Hour))); !got.IsZero() {
		t.Fatalf("nothing changed: %v, want zero", got)
	}
	later := created.Add(2 * time.Hour)
	// A sync that fails does not publish: the retry keeps the trigger.
	if got, _ := tr.Observe("ns/s", svc, []*corev1.Pod{readyAt(later)}); !got.Equal(later) {
		t.Fatalf("pod transition: %v, want %v", got, later)
	}
	if got := observe(readyAt(later)); !got.Equal(later) {
		t.Fatalf("retried pod transition: %v, want %v", got, later)
	}
	if got := observe(readyAt(later)); !got.IsZero() {
		t.Fatalf("published transition again: %v, want zero", got)
	}
	tr.Forget("ns/s")
	if got := observe(); !got.Equal(created) {
		t.Fatalf("after Forget: %v, want the Service's creation", got)
	}
	a := SetTriggerTime(nil, later)
	if a[corev1.EndpointsLastChangeTriggerTime] != "2025-01-01T02:00:00Z" {
		t.Fatalf("annotation %v", a)
	}
	if a = SetTriggerTime(a, time.Time{}); len(a) != 0 {
		t.Fatalf("zero time left %v", a)
	}
}
