package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/utils/ptr"
)

func spreadBy(key string, maxSkew int32, mutate ...func(*corev1.TopologySpreadConstraint)) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		c := corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}
		for _, m := range mutate {
			m(&c)
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, c)
	}
}

func TestFitsSpread(t *testing.T) {
	const zone = corev1.LabelTopologyZone
	nodes := []*corev1.Node{
		testNode("a1", "4", "8Gi", withLabels(zone, "a")),
		testNode("a2", "4", "8Gi", withLabels(zone, "a")),
		testNode("b1", "4", "8Gi", withLabels(zone, "b")),
		testNode("c1", "4", "8Gi", withLabels(zone, "c", "pool", "spot")),
		testNode("nozone", "4", "8Gi"),
	}
	web := func(name, node string) *corev1.Pod {
		return testPod(name, "", "", podLabels("app", "web", "version", name), onNode(node))
	}
	placed := []*corev1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "b1"), testPod("db", "", "", podLabels("app", "db"), onNode("c1"))}
	skew := "node(s) didn't match pod topology spread constraints"
	missing := skew + " (missing required label)"
	tests := []struct {
		name string
		pod  *corev1.Pod
		want map[string]string
	}{
		{"no constraints", testPod("p", "", "", podLabels("app", "web")), map[string]string{"a1": "", "nozone": ""}},
		{"ScheduleAnyway is not a filter", testPod("p", "", "", podLabels("app", "web"), spreadBy(zone, 1, func(c *corev1.TopologySpreadConstraint) {
			c.WhenUnsatisfiable = corev1.ScheduleAnyway
		})), map[string]string{"a1": ""}},
		// zones: a=2, b=1, c=0; min 0.
		{"zone skew 1", testPod("p", "", "", podLabels("app", "web"), spreadBy(zone, 1)),
			map[string]string{"a1": skew, "b1": skew, "c1": "", "nozone": missing}},
		{"zone skew 2", testPod("p", "", "", podLabels("app", "web"), spreadBy(zone, 2)),
			map[string]string{"a1": skew, "b1": "", "c1": ""}},
		{"pod not matching its own selector", testPod("p", "", "", podLabels("app", "other"), spreadBy(zone, 2)),
			map[string]string{"a1": "", "b1": ""}},
		{"node affinity narrows the domains", testPod("p", "", "", podLabels("app", "web"), spreadBy(zone, 1), func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{zone: "a"}
		}), map[string]string{"a1": ""}}, // only zone a counts: min is 2
		{"minDomains above the domain count", testPod("p", "", "", podLabels("app", "web"), spreadBy(zone, 2, func(c *corev1.TopologySpreadConstraint) {
			c.MinDomains = ptr.To[int32](5)
		}), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{zone: "a"} }),
			map[string]string{"a1": skew}}, // min treated as 0: 2+1-0 > 2
		{"matchLabelKeys narrow to the pod's version", testPod("p", "", "", podLabels("app", "web", "version", "w1"), spreadBy(zone, 1, func(c *corev1.TopologySpreadConstraint) {
			c.MatchLabelKeys = []string{"version"}
		})), map[string]string{"a1": skew, "b1": "", "c1": ""}},
		{"hostname spreading", testPod("p", "", "", podLabels("app", "web"), spreadBy(corev1.LabelHostname, 1)),
			map[string]string{"a1": skew, "c1": "", "nozone": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster(nodes, placed...)
			cs := newSpreadState(tt.pod, c.list, nodeaffinity.GetRequiredNodeAffinity(tt.pod))
			for node, want := range tt.want {
				st, ok := fitsSpread(cs, c.nodes[node])
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
