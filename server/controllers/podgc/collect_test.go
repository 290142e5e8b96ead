package podgc

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSortForCollection(t *testing.T) {
	at := func(name string, sec int64, phase corev1.PodPhase, reason string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(sec, 0))},
			Status:     corev1.PodStatus{Phase: phase, Reason: reason},
		}
	}
	pods := []*corev1.Pod{
		at("new", 30, corev1.PodSucceeded, ""),
		at("b", 10, corev1.PodFailed, ""),
		at("a", 10, corev1.PodSucceeded, ""),
		at("evicted-late", 40, corev1.PodFailed, "Evicted"),
		at("old", 5, corev1.PodFailed, ""),
	}
	sortForCollection(pods)
	want := []string{"evicted-late", "old", "a", "b", "new"}
	for i, name := range want {
		if pods[i].Name != name {
			t.Fatalf("order %d = %s, want %v", i, pods[i].Name, want)
		}
	}
}

func TestIsTerminated(t *testing.T) {
	for phase, want := range map[corev1.PodPhase]bool{
		corev1.PodPending: false, corev1.PodRunning: false, corev1.PodUnknown: false,
		corev1.PodSucceeded: true, corev1.PodFailed: true,
	} {
		if got := isTerminated(&corev1.Pod{Status: corev1.PodStatus{Phase: phase}}); got != want {
			t.Errorf("%s: %v, want %v", phase, got, want)
		}
	}
}

func TestOutOfService(t *testing.T) {
	taint := corev1.Taint{Key: corev1.TaintNodeOutOfService, Effect: corev1.TaintEffectNoExecute}
	node := func(ready corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{Spec: corev1.NodeSpec{Taints: taints}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
	}
	cases := []struct {
		name string
		node *corev1.Node
		want bool
	}{
		{"not ready and tainted", node(corev1.ConditionFalse, taint), true},
		{"unknown and tainted", node(corev1.ConditionUnknown, taint), true},
		{"ready and tainted", node(corev1.ConditionTrue, taint), false},
		{"not ready, no taint", node(corev1.ConditionFalse), false},
	}
	for _, tc := range cases {
		if got := outOfService(tc.node); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
