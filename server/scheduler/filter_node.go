package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// Taint tolerations with comparison operators are an alpha feature that
// the API server does not enable.
const tolerationComparisonOperators = false

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// fitsSchedulable refuses a cordoned node unless the pod tolerates the
// unschedulable taint.
func fitsSchedulable(pod *corev1.Pod, n *nodeInfo) (nodeStatus, bool) {
	if !n.unschedulable || corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, &unschedulableTaint, tolerationComparisonOperators) {
		return nodeStatus{}, true
	}
	return statusNodeUnschedulable, false
}

// fitsTaints refuses a node with a NoSchedule or NoExecute taint the pod
// does not tolerate; a node that is not ready counts as tainted not-ready.
func fitsTaints(pod *corev1.Pod, n *nodeInfo) (nodeStatus, bool) {
	if len(n.taints) == 0 {
		return nodeStatus{}, true
	}
	_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.taints, pod.Spec.Tolerations, schedulingTaint, tolerationComparisonOperators)
	if untolerated {
		return statusUntoleratedTaint, false
	}
	return nodeStatus{}, true
}

func schedulingTaint(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

// fitsNodeAffinity checks the pod's nodeSelector and required node
// affinity (a kubernetes.io/hostname selector included).
func fitsNodeAffinity(cy *cycle, n *nodeInfo) (nodeStatus, bool) {
	if ok, err := cy.nodeAffinity.Match(n.node); ok && err == nil {
		return nodeStatus{}, true
	}
	return statusNodeAffinity, false
}

// fitsPorts refuses a node where one of the pod's host ports is taken.
func fitsPorts(pi *podInfo, n *nodeInfo) (nodeStatus, bool) {
	for _, want := range pi.hostPorts {
		for used := range n.usedPorts {
			if want.conflicts(used) {
				return statusHostPorts, false
			}
		}
	}
	return nodeStatus{}, true
}
