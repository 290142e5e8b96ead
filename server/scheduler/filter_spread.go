package scheduler

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// spreadConstraint is one topologySpreadConstraint with whenUnsatisfiable
// DoNotSchedule, with the matching pods counted per domain.
type spreadConstraint struct {
	topologyKey string
	maxSkew     int
	selector    labels.Selector
	selfMatch   bool           // the pod itself matches the selector
	counts      map[string]int // domain value -> matching pods
	minMatch    int            // the global minimum the skew is measured from
}

// newSpreadState counts, for each hard spread constraint of the pod, the
// matching pods per domain over the eligible nodes (those with all the
// constraints' topology keys that pass the inclusion policies). It
// returns nil when the pod has no such constraint.
func newSpreadState(pod *corev1.Pod, nodes []*nodeInfo, affinity nodeaffinity.RequiredNodeAffinity) []spreadConstraint {
	var specs []*corev1.TopologySpreadConstraint
	for i := range pod.Spec.TopologySpreadConstraints {
		if c := &pod.Spec.TopologySpreadConstraints[i]; c.WhenUnsatisfiable == corev1.DoNotSchedule {
			specs = append(specs, c)
		}
	}
	if len(specs) == 0 {
		return nil
	}
	out := make([]spreadConstraint, 0, len(specs))
	kept := specs[:0]
	for _, c := range specs {
		sel, err := spreadSelector(pod, c)
		if err != nil {
			continue // validation keeps such selectors out of the API
		}
		kept = append(kept, c)
		out = append(out, spreadConstraint{topologyKey: c.TopologyKey, maxSkew: int(c.MaxSkew), selector: sel,
			selfMatch: sel.Matches(labels.Set(pod.Labels)), counts: map[string]int{}})
	}
	specs = kept
	for _, n := range nodes {
		if !hasAllKeys(n.node, out) {
			continue
		}
		for i, c := range specs {
			if !includedBySpreadPolicies(pod, c, n.node, affinity) {
				continue
			}
			sc := &out[i]
			sc.counts[n.node.Labels[sc.topologyKey]] += countMatching(n.pods, sc.selector, pod.Namespace)
		}
	}
	for i, c := range specs {
		sc := &out[i]
		sc.minMatch = math.MaxInt32
		for _, v := range sc.counts {
			sc.minMatch = min(sc.minMatch, v)
		}
		if c.MinDomains != nil && len(sc.counts) < int(*c.MinDomains) {
			sc.minMatch = 0 // too few domains: as if an empty one existed
		}
	}
	return out
}

// spreadSelector is the constraint's selector narrowed by matchLabelKeys
// to pods sharing the pod's values of those labels.
func spreadSelector(pod *corev1.Pod, c *corev1.TopologySpreadConstraint) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil {
		return nil, err
	}
	for _, key := range c.MatchLabelKeys {
		v, ok := pod.Labels[key]
		if !ok {
			continue
		}
		req, err := labels.NewRequirement(key, selection.Equals, []string{v})
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	return sel, nil
}

func hasAllKeys(node *corev1.Node, cs []spreadConstraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.topologyKey]; !ok {
			return false
		}
	}
	return true
}

// includedBySpreadPolicies applies nodeAffinityPolicy (default Honor) and
// nodeTaintsPolicy (default Ignore).
func includedBySpreadPolicies(pod *corev1.Pod, c *corev1.TopologySpreadConstraint, node *corev1.Node, affinity nodeaffinity.RequiredNodeAffinity) bool {
	if c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor {
		if ok, err := affinity.Match(node); !ok || err != nil {
			return false
		}
	}
	if c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations, schedulingTaint, tolerationComparisonOperators); untolerated {
			return false
		}
	}
	return true
}

// countMatching counts the pods in namespace ns matching sel, leaving out
// pods on their way out.
func countMatching(pods []*podInfo, sel labels.Selector, ns string) int {
	if sel.Empty() {
		return 0
	}
	count := 0
	for _, p := range pods {
		if p.pod.Namespace == ns && p.pod.DeletionTimestamp == nil && sel.Matches(labels.Set(p.pod.Labels)) {
			count++
		}
	}
	return count
}

// fitsSpread refuses a node that lacks a constraint's topology key, or
// whose domain would exceed the allowed skew with the pod on it.
func fitsSpread(cs []spreadConstraint, n *nodeInfo) (nodeStatus, bool) {
	for i := range cs {
		c := &cs[i]
		v, ok := n.node.Labels[c.topologyKey]
		if !ok {
			return statusSpreadMissingLabel, false
		}
		self := 0
		if c.selfMatch {
			self = 1
		}
		if c.counts[v]+self-c.minMatch > c.maxSkew {
			return statusSpread, false
		}
	}
	return nodeStatus{}, true
}
