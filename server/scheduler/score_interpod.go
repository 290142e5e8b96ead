package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// hardAffinityWeight is what a placed pod's required affinity to the
// incoming pod adds to the incoming pod's preference for its domain
// (upstream's hardPodAffinityWeight default).
const hardAffinityWeight = 1

// interPodScores holds per-domain preferences of the pod for preferred
// inter-pod terms: its own terms towards placed pods, and placed pods'
// terms towards it.
type interPodScores struct {
	byDomain map[topologyPair]int64
	keys     []string
}

// newInterPodScores sums the preferences over the cluster; it is nil when
// neither the pod nor any placed pod has inter-pod terms.
func newInterPodScores(pi *podInfo, c *nodeCache, nsLabels labels.Set, namespacesMatching func(labels.Selector) []string) *interPodScores {
	own := len(pi.preferredAffinity)+len(pi.preferredAnti) > 0
	if !own && c.podsWithAffinity == 0 {
		return nil
	}
	s := &interPodScores{byDomain: map[topologyPair]int64{}}
	keys := map[string]bool{}
	add := func(n *nodeInfo, key string, w int64) {
		v, ok := n.node.Labels[key]
		if !ok || w == 0 {
			return
		}
		s.byDomain[topologyPair{key, v}] += w
		if !keys[key] {
			keys[key] = true
			s.keys = append(s.keys, key)
		}
	}
	affinity := expandNamespaces(pi.preferredAffinity, namespacesMatching)
	anti := expandNamespaces(pi.preferredAnti, namespacesMatching)
	for _, n := range c.list {
		if !own && n.podsWithAffinity == 0 {
			continue
		}
		for _, other := range n.pods {
			for i := range affinity {
				if affinity[i].matches(other.pod, nil) {
					add(n, affinity[i].topologyKey, int64(affinity[i].weight))
				}
			}
			for i := range anti {
				if anti[i].matches(other.pod, nil) {
					add(n, anti[i].topologyKey, -int64(anti[i].weight))
				}
			}
			if other.hasAffinity() {
				s.addPlacedPodTerms(other, n, pi.pod, nsLabels, add)
			}
		}
	}
	if len(s.byDomain) == 0 {
		return nil
	}
	return s
}

func (s *interPodScores) addPlacedPodTerms(other *podInfo, n *nodeInfo, pod *corev1.Pod, nsLabels labels.Set, add func(*nodeInfo, string, int64)) {
	for i := range other.requiredAffinity {
		if t := &other.requiredAffinity[i]; t.matches(pod, nsLabels) {
			add(n, t.topologyKey, hardAffinityWeight)
		}
	}
	for i := range other.preferredAffinity {
		if t := &other.preferredAffinity[i]; t.matches(pod, nsLabels) {
			add(n, t.topologyKey, int64(t.weight))
		}
	}
	for i := range other.preferredAnti {
		if t := &other.preferredAnti[i]; t.matches(pod, nsLabels) {
			add(n, t.topologyKey, -int64(t.weight))
		}
	}
}

// score is the raw preference for a node: the sum over the domains it is
// in.
func (s *interPodScores) score(n *nodeInfo) int64 {
	var sum int64
	for _, key := range s.keys {
		if v, ok := n.node.Labels[key]; ok {
			sum += s.byDomain[topologyPair{key, v}]
		}
	}
	return sum
}
