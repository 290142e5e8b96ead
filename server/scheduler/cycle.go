package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// cycle is one attempt to place one pod: the pod parsed once, and what the
// filters precompute over the cluster before looking at single nodes.
type cycle struct {
	pod          *corev1.Pod
	info         *podInfo
	nodeAffinity nodeaffinity.RequiredNodeAffinity
	interPod     *interPodState     // nil: no inter-pod term can matter
	spread       []spreadConstraint // nil: no hard spread constraint
}

// filter runs the filters in upstream's order and stops at the first that
// refuses the node, whose reasons are the node's in the failure summary.
func (cy *cycle) filter(n *nodeInfo) (nodeStatus, bool) {
	if st, ok := fitsSchedulable(cy.pod, n); !ok {
		return st, false
	}
	if st, ok := fitsTaints(cy.pod, n); !ok {
		return st, false
	}
	if st, ok := fitsNodeAffinity(cy, n); !ok {
		return st, false
	}
	if st, ok := fitsPorts(cy.info, n); !ok {
		return st, false
	}
	if st, ok := fitsResources(cy.info, n); !ok {
		return st, false
	}
	if st, ok := fitsSpread(cy.spread, n); !ok {
		return st, false
	}
	return fitsInterPod(cy.interPod, n)
}
