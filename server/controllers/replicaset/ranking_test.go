package replicaset

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type podOpt func(*corev1.Pod)

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(base)}}
	p.Spec.NodeName = "node"
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(p)
	}
	return p
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func unscheduled(p *corev1.Pod)       { p.Spec.NodeName = "" }
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func onNode(n string) podOpt          { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func created(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(base.Add(d)) }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}} }
}
func cost(v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: v} }
}
func readySince(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(base.Add(d))}}
	}
}

func TestPodsToDelete(t *testing.T) {
	now := base.Add(100 * time.Hour)
	for _, tc := range []struct {
		name    string
		pods    []*corev1.Pod
		related []*corev1.Pod
		want    string
	}{
		{"unscheduled first", []*corev1.Pod{pod("a", readySince(0)), pod("b", unscheduled, phase(corev1.PodPending))}, nil, "b"},
		{"pending before unknown before running", []*corev1.Pod{pod("a"), pod("b", phase(corev1.PodUnknown)), pod("c", phase(corev1.PodPending))}, nil, "c"},
		{"unknown before running", []*corev1.Pod{pod("a"), pod("b", phase(corev1.PodUnknown))}, nil, "b"},
		{"not ready first", []*corev1.Pod{pod("a", readySince(0)), pod("b")}, nil, "b"},
		{"lower deletion cost first", []*corev1.Pod{pod("a", cost("10")), pod("b", cost("-5"))}, nil, "b"},
		{"malformed cost counts 0", []*corev1.Pod{pod("a", cost("+10")), pod("b", cost("5"))}, nil, "a"},
		{"crowded node first", []*corev1.Pod{pod("a", onNode("n1")), pod("b", onNode("n2"))},
			[]*corev1.Pod{pod("x", onNode("n2")), pod("y", onNode("n2")), pod("z", onNode("n1"))}, "b"},
		{"ready more recently first", []*corev1.Pod{pod("a", readySince(time.Hour)), pod("b", readySince(90*time.Hour))}, nil, "b"},
		{"more restarts first", []*corev1.Pod{pod("a", restarts(1)), pod("b", restarts(4))}, nil, "b"},
		{"newer first", []*corev1.Pod{pod("a", created(time.Hour)), pod("b", created(99*time.Hour))}, nil, "b"},
	} {
		got := podsToDelete(tc.pods, tc.related, 1, now)
		if len(got) != 1 || got[0].Name != tc.want {
			t.Errorf("%s: deleted %s, want %s", tc.name, got[0].Name, tc.want)
		}
	}
}
