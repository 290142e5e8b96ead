package daemonset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPlacementOnNode(t *testing.T) {
	ds := func(mutate func(*corev1.PodSpec)) *appsv1.DaemonSet {
		d := &appsv1.DaemonSet{}
		if mutate != nil {
			mutate(&d.Spec.Template.Spec)
		}
		return d
	}
	node := func(labels map[string]string, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
	}
	noSchedule := corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule}
	noExecute := corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoExecute}
	for _, tc := range []struct {
		name               string
		ds                 *appsv1.DaemonSet
		node               *corev1.Node
		run, keepOnRunning bool
	}{
		{"plain node", ds(nil), node(nil), true, true},
		{"selector matches", ds(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"a": "b"} }), node(map[string]string{"a": "b"}), true, true},
		{"selector misses", ds(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"a": "b"} }), node(nil), false, false},
		{"required affinity misses", ds(func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}},
			}}}
		}), node(nil), false, false},
		{"other node name", ds(func(s *corev1.PodSpec) { s.NodeName = "other" }), node(nil), false, false},
		{"NoSchedule taint keeps running pods", ds(nil), node(nil, noSchedule), false, true},
		{"NoExecute taint evicts", ds(nil), node(nil, noExecute), false, false},
		{"tolerated taint", ds(func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}), node(nil, noExecute), true, true},
		{"unschedulable tolerated automatically", ds(nil), node(nil, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"network-unavailable only with host network", ds(nil), node(nil, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"network-unavailable with host network", ds(func(s *corev1.PodSpec) { s.HostNetwork = true }), node(nil, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), true, true},
	} {
		run, keep := placementOf(tc.ds).onNode(tc.node)
		if run != tc.run || keep != tc.keepOnRunning {
			t.Errorf("%s: got run=%v keep=%v, want %v %v", tc.name, run, keep, tc.run, tc.keepOnRunning)
		}
	}
}

func TestPinToNodeAndTarget(t *testing.T) {
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}},
	}}}
	for _, a := range []*corev1.Affinity{nil, {}, affinity} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Affinity: pinToNode(a.DeepCopy(), "n7")}}
		terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchExpressions) != 0 {
			t.Errorf("pinned affinity terms = %+v, want one metadata.name term", terms)
		}
		if node, err := targetNode(pod); err != nil || node != "n7" {
			t.Errorf("target node %q (%v), want n7", node, err)
		}
	}
	bound := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1"}}
	if node, _ := targetNode(bound); node != "n1" {
		t.Errorf("bound pod target %q, want n1", node)
	}
	if _, err := targetNode(&corev1.Pod{}); err == nil {
		t.Error("a pod without affinity has a target node")
	}
}

func TestAddDaemonTolerationsReplacesSame(t *testing.T) {
	seconds := int64(30)
	spec := &corev1.PodSpec{Tolerations: []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds},
	}}
	addDaemonTolerations(spec)
	if len(spec.Tolerations) != 6 {
		t.Fatalf("%d tolerations, want 6: %v", len(spec.Tolerations), spec.Tolerations)
	}
	if spec.Tolerations[0].TolerationSeconds != nil {
		t.Error("not-ready toleration keeps its time limit; daemon pods tolerate forever")
	}
}
