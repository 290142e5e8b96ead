package scheduler

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestLeastAllocatedScore(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		on   []*corev1.Pod
		pod  *corev1.Pod
		want int64
	}{
		{"empty node, half of each", testNode("n", "4", "4Gi"), nil, testPod("p", "2", "2Gi"), 50},
		{"cpu half, memory quarter used", testNode("n", "4", "4Gi"), []*corev1.Pod{testPod("x", "1", "")}, testPod("p", "1", "1Gi"), (50 + 70) / 2},
		{"best effort counts as defaults", testNode("n", "1", "1000Mi"), nil, testPod("p", "", ""), (90 + 80) / 2},
		{"over capacity scores zero", testNode("n", "1", "1Gi"), nil, testPod("p", "2", "2Gi"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leastAllocatedScore(newPodInfo(tt.pod), infoFor(tt.node, tt.on...)); got != tt.want {
				t.Errorf("score %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBalancedAllocationScore(t *testing.T) {
	tests := []struct {
		name string
		on   []*corev1.Pod
		pod  *corev1.Pod
		want int64
	}{
		{"balanced stays balanced", nil, testPod("p", "2", "2Gi"), 75},
		{"unbalancing", nil, testPod("p", "4", ""), 50},
		{"rebalancing", []*corev1.Pod{testPod("x", "2", "")}, testPod("p", "", "2Gi"), 87},
		{"best effort is neutral", nil, testPod("p", "", ""), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := balancedAllocationScore(newPodInfo(tt.pod), infoFor(testNode("n", "4", "4Gi"), tt.on...)); got != tt.want {
				t.Errorf("score %d, want %d", got, tt.want)
			}
		})
	}
}

func TestUntoleratedPreferNoSchedule(t *testing.T) {
	soft := corev1.Taint{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}
	softer := corev1.Taint{Key: "softer", Value: "x", Effect: corev1.TaintEffectPreferNoSchedule}
	hard := corev1.Taint{Key: "hard", Effect: corev1.TaintEffectNoSchedule}
	node := testNode("n", "1", "1Gi", withTaints(soft, softer, hard))
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		want        int64
	}{
		{"none tolerated", nil, 2},
		{"one tolerated", []corev1.Toleration{{Key: "soft", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectPreferNoSchedule}}, 1},
		{"toleration without effect", []corev1.Toleration{{Key: "softer", Operator: corev1.TolerationOpEqual, Value: "x"}}, 1},
		{"NoSchedule toleration does not count", []corev1.Toleration{{Key: "soft", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, 2},
		{"all", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod("p", "", "", func(p *corev1.Pod) { p.Spec.Tolerations = tt.tolerations })
			if got := untoleratedPreferNoSchedule(pod, infoFor(node)); got != tt.want {
				t.Errorf("count %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		raw     []int64
		reverse bool
		minMax  bool
		want    []int64
	}{
		{"scaled to the highest", []int64{0, 5, 10}, false, false, []int64{0, 50, 100}},
		{"all zero", []int64{0, 0}, false, false, []int64{0, 0}},
		{"reversed", []int64{0, 1, 2}, true, false, []int64{100, 50, 0}},
		{"reversed all zero", []int64{0, 0}, true, false, []int64{100, 100}},
		{"min-max with negatives", []int64{-10, 0, 10}, false, true, []int64{0, 50, 100}},
		{"min-max all equal", []int64{3, 3}, false, true, []int64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := append([]int64(nil), tt.raw...)
			if tt.minMax {
				normalizeMinMax(raw)
			} else {
				normalize(raw, tt.reverse)
			}
			if !reflect.DeepEqual(raw, tt.want) {
				t.Errorf("got %v, want %v", raw, tt.want)
			}
		})
	}
}

func TestPreferredNodeAffinityPicksTheHeaviestMatch(t *testing.T) {
	nodes := []*corev1.Node{
		testNode("ssd", "4", "8Gi", withLabels("disk", "ssd")),
		testNode("hdd", "4", "8Gi", withLabels("disk", "hdd")),
		testNode("both", "4", "8Gi", withLabels("disk", "ssd", "net", "fast")),
	}
	pref := func(weight int32, key, value string) corev1.PreferredSchedulingTerm {
		return corev1.PreferredSchedulingTerm{Weight: weight, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{value}}}}}
	}
	pod := testPod("p", "100m", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
			pref(10, "disk", "ssd"), pref(5, "net", "fast"), pref(1, "disk", "hdd"),
		}}}
	})
	if got := placeOn(t, nodes, nil, pod); got != "both" {
		t.Errorf("placed on %s, want both", got)
	}
}

func TestPreferNoScheduleTaintAvoided(t *testing.T) {
	nodes := []*corev1.Node{
		testNode("soft", "4", "8Gi", withTaints(corev1.Taint{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule})),
		testNode("clean", "4", "8Gi"),
	}
	for i := 0; i < 5; i++ {
		if got := placeOn(t, nodes, nil, testPod("p", "100m", "")); got != "clean" {
			t.Fatalf("placed on %s, want clean", got)
		}
	}
}

func TestPreferredPodAffinityScores(t *testing.T) {
	const zone = corev1.LabelTopologyZone
	nodes := []*corev1.Node{
		testNode("a1", "4", "8Gi", withLabels(zone, "a")),
		testNode("b1", "4", "8Gi", withLabels(zone, "b")),
		testNode("c1", "4", "8Gi", withLabels(zone, "c")),
	}
	cache := testPod("cache", "", "", podLabels("app", "cache"), onNode("b1"))
	noisy := testPod("noisy", "", "", podLabels("app", "noisy"), onNode("c1"))
	weighted := func(w int32, t corev1.PodAffinityTerm) []corev1.WeightedPodAffinityTerm {
		return []corev1.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: t}}
	}
	near := testPod("p", "100m", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: weighted(50, term(zone, "app", "cache"))}}
	})
	if got := placeOn(t, nodes, []*corev1.Pod{cache, noisy}, near); got != "b1" {
		t.Errorf("preferred affinity placed on %s, want b1", got)
	}
	// Existing pods' preferred anti-affinity pushes the pod away: a and b
	// both hold a pod that dislikes it.
	shy := func(name, node string) *corev1.Pod {
		return testPod(name, "", "", onNode(node), func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: weighted(100, term(zone, "app", "web"))}}
		})
	}
	web := testPod("web", "100m", "", podLabels("app", "web"))
	if got := placeOn(t, nodes, []*corev1.Pod{shy("s1", "a1"), shy("s2", "b1")}, web); got != "c1" {
		t.Errorf("existing preferred anti-affinity placed on %s, want c1", got)
	}
}

func TestSpreadingByOwnerAndService(t *testing.T) {
	const zone = corev1.LabelTopologyZone
	nodes := []*corev1.Node{
		testNode("a1", "4", "8Gi", withLabels(zone, "a")),
		testNode("a2", "4", "8Gi", withLabels(zone, "a")),
		testNode("b1", "4", "8Gi", withLabels(zone, "b")),
	}
	owned := func(name, node string) *corev1.Pod {
		return testPod(name, "100m", "", onNode(node), func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: types.UID("rs-uid"), Controller: ptrTrue()}}
		})
	}
	// a1 holds a sibling: zone b is empty of siblings, a2 shares zone a.
	placed := []*corev1.Pod{owned("s1", "a1")}
	pod := owned("new", "")
	if got := placeOn(t, nodes, placed, pod); got != "b1" {
		t.Errorf("placed on %s, want b1 (other zone)", got)
	}

	s := &siblings{namespace: "default", services: nil}
	if newSiblings(newPodInfo(testPod("lone", "", "")), nil) != nil {
		t.Error("a pod without owner or service has siblings")
	}
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"}}}
	api := newPodInfo(testPod("api", "", "", podLabels("app", "api")))
	if s = newSiblings(api, []*corev1.Service{svc, {}}); s == nil || len(s.services) != 1 {
		t.Fatalf("siblings %+v", s)
	}
	n := infoFor(testNode("x", "4", "8Gi"), testPod("api-1", "", "", podLabels("app", "api")), testPod("api-2", "", "", podLabels("app", "api")),
		testPod("db", "", "", podLabels("app", "db")), testPod("api-other-ns", "", "", podLabels("app", "api"), func(p *corev1.Pod) { p.Namespace = "other" }))
	if got := s.count(n); got != 2 {
		t.Errorf("counted %d service siblings, want 2", got)
	}
}

func TestSpreadScores(t *testing.T) {
	const zone = corev1.LabelTopologyZone
	nodes := []*nodeInfo{
		infoFor(testNode("a1", "1", "1Gi", withLabels(zone, "a"))),
		infoFor(testNode("a2", "1", "1Gi", withLabels(zone, "a"))),
		infoFor(testNode("b1", "1", "1Gi", withLabels(zone, "b"))),
	}
	raw := []int64{2, 0, 0}
	spreadScores(raw, nodes)
	// node part: 0, 100, 100; zone part: a has 2 of max 2 -> 0, b -> 100;
	// b1's 100/3 + 200/3 truncates to 99, as upstream's float sum does.
	want := []int64{0, 33, 99}
	if !reflect.DeepEqual(raw, want) {
		t.Errorf("scores %v, want %v", raw, want)
	}
	noZones := []*nodeInfo{infoFor(testNode("x", "1", "1Gi")), infoFor(testNode("y", "1", "1Gi"))}
	raw = []int64{1, 3}
	spreadScores(raw, noZones)
	if want := []int64{66, 0}; !reflect.DeepEqual(raw, want) {
		t.Errorf("scores without zones %v, want %v", raw, want)
	}
}

func ptrTrue() *bool { b := true; return &b }
