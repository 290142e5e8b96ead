package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// topologyPair is one topology domain: a node label and its value.
type topologyPair struct{ key, value string }

// interPodState is what the inter-pod (anti-)affinity filter needs for one
// pod, counted once over the cluster before the nodes are looked at. It is
// nil when neither the pod nor any placed pod has required terms, so
// clusters without affinity pay nothing.
type interPodState struct {
	// existingAnti counts placed pods per domain whose required
	// anti-affinity terms match the incoming pod; existingKeys are the
	// topology keys that occur in it.
	existingAnti map[topologyPair]int
	existingKeys []string

	affinityTerms []affinityTerm // the pod's required affinity
	antiTerms     []affinityTerm // the pod's required anti-affinity
	// affinity counts, per domain of each affinity term, the pods that
	// match all of the pod's affinity terms; anti counts per domain the
	// pods matching any anti-affinity term.
	affinity map[topologyPair]int
	anti     map[topologyPair]int
	// selfMatch: the pod matches its own affinity terms, so the first of
	// a group may go anywhere its topology keys exist.
	selfMatch bool
}

// newInterPodState counts the domains for pod; nsLabels gives a
// namespace's labels and namespacesMatching the namespaces a selector
// picks (for terms with a namespaceSelector).
func newInterPodState(pi *podInfo, c *nodeCache, nsLabels func(string) labels.Set, namespacesMatching func(labels.Selector) []string) *interPodState {
	if c.podsWithRequiredAnti == 0 && len(pi.requiredAffinity) == 0 && len(pi.requiredAnti) == 0 {
		return nil
	}
	s := &interPodState{}
	if c.podsWithRequiredAnti > 0 {
		s.countExistingAnti(pi.pod, c, nsLabels(pi.pod.Namespace))
	}
	if len(pi.requiredAffinity) == 0 && len(pi.requiredAnti) == 0 {
		return s
	}
	s.affinityTerms = expandNamespaces(pi.requiredAffinity, namespacesMatching)
	s.antiTerms = expandNamespaces(pi.requiredAnti, namespacesMatching)
	s.affinity = map[topologyPair]int{}
	s.anti = map[topologyPair]int{}
	s.selfMatch = len(s.affinityTerms) > 0 && matchesAll(s.affinityTerms, pi.pod)
	for _, n := range c.list {
		for _, other := range n.pods {
			if len(s.affinityTerms) > 0 && matchesAll(s.affinityTerms, other.pod) {
				for _, t := range s.affinityTerms {
					if v, ok := n.node.Labels[t.topologyKey]; ok {
						s.affinity[topologyPair{t.topologyKey, v}]++
					}
				}
			}
			for i := range s.antiTerms {
				t := &s.antiTerms[i]
				if v, ok := n.node.Labels[t.topologyKey]; ok && t.matches(other.pod, nil) {
					s.anti[topologyPair{t.topologyKey, v}]++
				}
			}
		}
	}
	return s
}

func (s *interPodState) countExistingAnti(pod *corev1.Pod, c *nodeCache, podNsLabels labels.Set) {
	s.existingAnti = map[topologyPair]int{}
	keys := map[string]bool{}
	for _, n := range c.list {
		if n.podsWithRequiredAnti == 0 {
			continue
		}
		for _, other := range n.pods {
			for i := range other.requiredAnti {
				t := &other.requiredAnti[i]
				v, ok := n.node.Labels[t.topologyKey]
				if !ok || !t.matches(pod, podNsLabels) {
					continue
				}
				s.existingAnti[topologyPair{t.topologyKey, v}]++
				if !keys[t.topologyKey] {
					keys[t.topologyKey] = true
					s.existingKeys = append(s.existingKeys, t.topologyKey)
				}
			}
		}
	}
}

// expandNamespaces turns each term's namespace selector into the
// namespaces it selects now, so matching needs no namespace labels.
func expandNamespaces(terms []affinityTerm, namespacesMatching func(labels.Selector) []string) []affinityTerm {
	out := make([]affinityTerm, len(terms))
	for i, t := range terms {
		out[i] = t
		if t.nsSelector != nil {
			ns := t.namespaces.Clone()
			ns.Insert(namespacesMatching(t.nsSelector)...)
			out[i].namespaces = ns
			out[i].nsSelector = nil
		}
	}
	return out
}

func matchesAll(terms []affinityTerm, pod *corev1.Pod) bool {
	for i := range terms {
		if !terms[i].matches(pod, nil) {
			return false
		}
	}
	return true
}

// fitsInterPod checks, in upstream's order, the pod's required affinity,
// its required anti-affinity, and placed pods' anti-affinity against it.
func fitsInterPod(s *interPodState, n *nodeInfo) (nodeStatus, bool) {
	if s == nil {
		return nodeStatus{}, true
	}
	labels := n.node.Labels
	if len(s.affinityTerms) > 0 {
		found := true
		for _, t := range s.affinityTerms {
			v, ok := labels[t.topologyKey]
			if !ok {
				return statusAffinity, false // every topology key must exist, even for the first pod
			}
			if s.affinity[topologyPair{t.topologyKey, v}] <= 0 {
				found = false
			}
		}
		if !found && !(len(s.affinity) == 0 && s.selfMatch) {
			return statusAffinity, false
		}
	}
	for _, t := range s.antiTerms {
		if v, ok := labels[t.topologyKey]; ok && s.anti[topologyPair{t.topologyKey, v}] > 0 {
			return statusAntiAffinity, false
		}
	}
	for _, key := range s.existingKeys {
		if v, ok := labels[key]; ok && s.existingAnti[topologyPair{key, v}] > 0 {
			return statusExistingAntiAffinity, false
		}
	}
	return nodeStatus{}, true
}
