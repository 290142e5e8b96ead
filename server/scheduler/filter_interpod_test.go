package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// testCluster is a cache with nodes and placed pods.
func testCluster(nodes []*corev1.Node, pods ...*corev1.Pod) *nodeCache {
	c := newNodeCache()
	for _, n := range nodes {
		c.setNode(n)
	}
	for _, p := range pods {
		c.setAssignedPod(p)
	}
	return c
}

func term(key string, kv ...string) corev1.PodAffinityTerm {
	sel := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		sel[kv[i]] = kv[i+1]
	}
	return corev1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}}
}

func requireAffinity(terms ...corev1.PodAffinityTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func requireAnti(terms ...corev1.PodAffinityTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

var testNamespaces = map[string]labels.Set{"default": {"team": "a"}, "other": {"team": "b"}}

func testNsLabels(ns string) labels.Set { return testNamespaces[ns] }

func testNsMatching(sel labels.Selector) []string {
	var out []string
	for name, l := range testNamespaces {
		if sel.Matches(l) {
			out = append(out, name)
		}
	}
	return out
}

func TestFitsInterPod(t *testing.T) {
	const zone = corev1.LabelTopologyZone
	nodes := []*corev1.Node{
		testNode("a1", "4", "8Gi", withLabels(zone, "a")),
		testNode("a2", "4", "8Gi", withLabels(zone, "a")),
		testNode("b1", "4", "8Gi", withLabels(zone, "b")),
		testNode("nozone", "4", "8Gi"),
	}
	db := testPod("db", "", "", podLabels("app", "db"), onNode("a1"))
	dbOther := testPod("db2", "", "", podLabels("app", "db"), onNode("b1"), func(p *corev1.Pod) { p.Namespace = "other" })
	loner := testPod("loner", "", "", podLabels("app", "loner"), onNode("b1"), requireAnti(term(corev1.LabelHostname, "app", "web")))
	zoneLoner := testPod("zl", "", "", podLabels("app", "zl"), onNode("a2"), requireAnti(term(zone, "tier", "front")))

	affinityMiss := "node(s) didn't match pod affinity rules"
	antiMiss := "node(s) didn't match pod anti-affinity rules"
	existingMiss := "node(s) didn't satisfy existing pods anti-affinity rules"
	tests := []struct {
		name   string
		placed []*corev1.Pod
		pod    *corev1.Pod
		want   map[string]string // node -> reason ("" fits)
	}{
		{"no terms anywhere", []*corev1.Pod{db}, testPod("p", "", ""), map[string]string{"a1": "", "b1": "", "nozone": ""}},
		{"affinity to db by zone", []*corev1.Pod{db}, testPod("p", "", "", requireAffinity(term(zone, "app", "db"))),
			map[string]string{"a1": "", "a2": "", "b1": affinityMiss, "nozone": affinityMiss}},
		{"affinity by hostname", []*corev1.Pod{db}, testPod("p", "", "", requireAffinity(term(corev1.LabelHostname, "app", "db"))),
			map[string]string{"a1": "", "a2": affinityMiss}},
		{"affinity ignores other namespaces", []*corev1.Pod{dbOther}, testPod("p", "", "", requireAffinity(term(zone, "app", "db"))),
			map[string]string{"a1": affinityMiss, "b1": affinityMiss}},
		{"affinity with namespace selector", []*corev1.Pod{dbOther}, testPod("p", "", "", requireAffinity(func() corev1.PodAffinityTerm {
			t := term(zone, "app", "db")
			t.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}
			return t
		}())), map[string]string{"b1": "", "a1": affinityMiss}},
		{"first pod of a self-affine group", nil, testPod("p", "", "", podLabels("app", "cache"), requireAffinity(term(zone, "app", "cache"))),
			map[string]string{"a1": "", "b1": "", "nozone": affinityMiss}},
		{"self-affinity does not apply once a match exists", []*corev1.Pod{db}, testPod("p", "", "", podLabels("app", "db"), requireAffinity(term(zone, "app", "db"))),
			map[string]string{"a1": "", "b1": affinityMiss}},
		{"anti-affinity to db by zone", []*corev1.Pod{db}, testPod("p", "", "", requireAnti(term(zone, "app", "db"))),
			map[string]string{"a1": antiMiss, "a2": antiMiss, "b1": "", "nozone": ""}},
		{"anti-affinity by hostname", []*corev1.Pod{db}, testPod("p", "", "", requireAnti(term(corev1.LabelHostname, "app", "db"))),
			map[string]string{"a1": antiMiss, "a2": ""}},
		{"existing pod's anti-affinity", []*corev1.Pod{loner}, testPod("p", "", "", podLabels("app", "web")),
			map[string]string{"b1": existingMiss, "a1": ""}},
		{"existing pod's anti-affinity, not matching", []*corev1.Pod{loner}, testPod("p", "", "", podLabels("app", "api")),
			map[string]string{"b1": ""}},
		{"existing pod's zone anti-affinity", []*corev1.Pod{zoneLoner}, testPod("p", "", "", podLabels("tier", "front")),
			map[string]string{"a1": existingMiss, "a2": existingMiss, "b1": "", "nozone": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster(nodes, tt.placed...)
			pi := newPodInfo(tt.pod)
			s := newInterPodState(pi, c, testNsLabels, testNsMatching)
			for node, want := range tt.want {
				st, ok := fitsInterPod(s, c.nodes[node])
				got := ""
				if !ok {
					got = st.reasons[0]
				}
				if got != want {
					t.Errorf("node %s: %q, want %q", node, got, want)
				}
			}
		})
	}
}

func TestInterPodStateSkippedWithoutTerms(t *testing.T) {
	c := testCluster([]*corev1.Node{testNode("a", "1", "1Gi")}, testPod("x", "", "", onNode("a")))
	if s := newInterPodState(newPodInfo(testPod("p", "", "")), c, testNsLabels, testNsMatching); s != nil {
		t.Errorf("state %+v for a cluster without affinity", s)
	}
}
