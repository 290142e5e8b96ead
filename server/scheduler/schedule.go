package scheduler

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Upstream's adaptive share of nodes to examine: in a big cluster it is
// enough to find some feasible nodes and pick the best of those.
const (
	minFeasibleNodes           = 100
	minFeasibleNodesPercentage = 5
)

// Score weights, upstream's defaults.
const (
	weightLeastAllocated = 1
	weightBalanced       = 1
	weightNodeAffinity   = 2
	weightTaints         = 3
	weightInterPod       = 2
	weightSpread         = 2
)

// placement is the outcome of one attempt: the chosen node, or why there
// is none.
type placement struct {
	node      string
	message   string    // the failure summary when node is empty
	rejectors rejectors // the filters that refused the nodes
}

// place chooses a node for pod and assumes the pod on it in the cache,
// all under the cache lock so that the decision and the assumption see
// the same cluster.
func (s *Scheduler) place(pod *corev1.Pod) placement {
	pi := newPodInfo(pod)
	nsLabels := s.lookupNamespace(pod.Namespace)
	sib := newSiblings(pi, s.lookupServices(pod.Namespace))

	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	nodes := s.cache.list
	if len(nodes) == 0 {
		return placement{message: messageNoNodes, rejectors: byNoNodes}
	}
	cy := &cycle{pod: pod, info: pi, nodeAffinity: nodeaffinity.GetRequiredNodeAffinity(pod)}
	cy.interPod = newInterPodState(pi, s.cache, s.lookupNamespace, s.lookupNamespaces)
	cy.spread = newSpreadState(pod, nodes, cy.nodeAffinity)

	feasible, statuses := s.findFeasible(cy, nodes)
	if len(feasible) == 0 {
		var by rejectors
		for i := range statuses {
			by |= statuses[i].by
		}
		return placement{message: failureMessage(pod, nodes, statuses), rejectors: by}
	}
	best := feasible[0]
	if len(feasible) > 1 {
		best = s.bestNode(cy, feasible, nsLabels, sib)
	}
	s.cache.assumeLocked(pi, best.name)
	return placement{node: best.name}
}

// numFeasibleToFind is how many feasible nodes end the search: all in a
// small cluster, a share falling from 50% with size (at least 5%, and at
// least 100 nodes) in a big one.
func numFeasibleToFind(nodes int) int {
	if nodes < minFeasibleNodes {
		return nodes
	}
	pct := max(50-nodes/125, minFeasibleNodesPercentage)
	return max(nodes*pct/100, minFeasibleNodes)
}

// findFeasible runs the filters over the nodes in parallel, starting where
// the previous pod stopped so that every node gets its turn, until enough
// feasible nodes are found. statuses has an entry per node of nodes (by
// index), set for the nodes that were refused.
func (s *Scheduler) findFeasible(cy *cycle, nodes []*nodeInfo) ([]*nodeInfo, []nodeStatus) {
	n := len(nodes)
	want := numFeasibleToFind(n)
	s.statuses = grow(s.statuses, n)
	clear(s.statuses)
	s.feasible = grow(s.feasible, want)
	var found, refused atomic.Int32
	start := s.nextStart % n
	forEach(n, func() bool { return int(found.Load()) >= want }, func(i int) {
		idx := (start + i) % n
		ni := nodes[idx]
		st, ok := cy.filter(ni)
		if !ok {
			s.statuses[idx] = st
			refused.Add(1)
			return
		}
		if k := int(found.Add(1)); k <= want {
			s.feasible[k-1] = ni
		} else {
			found.Add(-1)
		}
	})
	feasible := int(found.Load())
	s.nextStart = (start + feasible + int(refused.Load())) % n
	return s.feasible[:feasible], s.statuses[:n]
}

// bestNode scores the feasible nodes and picks the highest, at random
// among equals.
func (s *Scheduler) bestNode(cy *cycle, feasible []*nodeInfo, nsLabels labels.Set, sib *siblings) *nodeInfo {
	m := len(feasible)
	s.total = grow(s.total, m)
	s.affinityRaw = grow(s.affinityRaw, m)
	s.taintRaw = grow(s.taintRaw, m)
	s.interPodRaw = grow(s.interPodRaw, m)
	s.spreadRaw = grow(s.spreadRaw, m)

	var preferred *nodeaffinity.PreferredSchedulingTerms
	if a := cy.pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		preferred, _ = nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	interPod := newInterPodScores(cy.info, s.cache, nsLabels, s.lookupNamespaces)

	forEach(m, nil, func(i int) {
		n := feasible[i]
		s.total[i] = weightLeastAllocated*leastAllocatedScore(cy.info, n) + weightBalanced*balancedAllocationScore(cy.info, n)
		s.affinityRaw[i], s.interPodRaw[i], s.spreadRaw[i] = 0, 0, 0
		if preferred != nil {
			s.affinityRaw[i] = preferred.Score(n.node)
		}
		s.taintRaw[i] = untoleratedPreferNoSchedule(cy.pod, n)
		if interPod != nil {
			s.interPodRaw[i] = interPod.score(n)
		}
		if sib != nil {
			s.spreadRaw[i] = sib.count(n)
		}
	})
	normalize(s.affinityRaw, false)
	normalize(s.taintRaw, true)
	normalizeMinMax(s.interPodRaw)
	if sib != nil {
		spreadScores(s.spreadRaw, feasible)
	}
	best, ties := 0, 0
	var bestScore int64 = -1
	for i := range feasible {
		score := s.total[i] + weightNodeAffinity*s.affinityRaw[i] + weightTaints*s.taintRaw[i] + weightInterPod*s.interPodRaw[i] + weightSpread*s.spreadRaw[i]
		switch {
		case score > bestScore:
			best, bestScore, ties = i, score, 1
		case score == bestScore:
			ties++
			if s.rand.IntN(ties) == 0 { // reservoir sampling: each tie equally likely
				best = i
			}
		}
	}
	return feasible[best]
}

// grow returns buf resized to n, reusing its memory when it is big enough:
// the scheduling loop keeps its buffers so that a pod costs no
// cluster-sized allocations.
func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}
