package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// zoneWeighting is the share of the spreading score that comes from
// zones rather than single nodes when nodes carry zone labels.
const zoneWeighting = 2.0 / 3.0

// siblings decides which placed pods belong with the incoming pod for
// spreading: the same controller, or selected by a Service that selects
// the pod.
type siblings struct {
	namespace  string
	controller types.UID
	services   []labels.Selector
}

// newSiblings returns nil when the pod has no controller and no Service
// selects it: then there is nothing to spread.
func newSiblings(pi *podInfo, services []*corev1.Service) *siblings {
	s := &siblings{namespace: pi.pod.Namespace, controller: pi.controllerUID}
	for _, svc := range services {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
		if sel.Matches(labels.Set(pi.pod.Labels)) {
			s.services = append(s.services, sel)
		}
	}
	if s.controller == "" && len(s.services) == 0 {
		return nil
	}
	return s
}

func (s *siblings) count(n *nodeInfo) int64 {
	var count int64
	for _, p := range n.pods {
		if p.pod.Namespace != s.namespace || p.pod.DeletionTimestamp != nil {
			continue
		}
		if s.controller != "" && p.controllerUID == s.controller {
			count++
			continue
		}
		for _, sel := range s.services {
			if sel.Matches(labels.Set(p.pod.Labels)) {
				count++
				break
			}
		}
	}
	return count
}

// spreadScores turns sibling counts per node (in raw, replaced by the
// scores) into 0..100, fewer siblings scoring higher, blending in the
// counts per zone when nodes have zones.
func spreadScores(raw []int64, nodes []*nodeInfo) {
	var maxNode int64
	zones := map[string]int64{}
	for i, n := range nodes {
		maxNode = max(maxNode, raw[i])
		if z := n.node.Labels[corev1.LabelTopologyZone]; z != "" {
			zones[z] += raw[i]
		}
	}
	var maxZone int64
	for _, c := range zones {
		maxZone = max(maxZone, c)
	}
	for i, n := range nodes {
		score := float64(maxNodeScore)
		if maxNode > 0 {
			score = float64(maxNodeScore) * float64(maxNode-raw[i]) / float64(maxNode)
		}
		if z := n.node.Labels[corev1.LabelTopologyZone]; len(zones) > 0 && z != "" {
			zoneScore := float64(maxNodeScore)
			if maxZone > 0 {
				zoneScore = float64(maxNodeScore) * float64(maxZone-zones[z]) / float64(maxZone)
			}
			score = score*(1-zoneWeighting) + zoneWeighting*zoneScore
		}
		raw[i] = int64(score)
	}
}
