package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// nodeInfo is the scheduler's view of one node: the Node and the sums of
// what the pods assigned to it (bound or assumed) use, kept up to date
// incrementally so that a filter looks at a node in constant time.
type nodeInfo struct {
	name        string
	node        *corev1.Node // nil while pods name a node the informer has not shown yet
	allocatable resources
	allowedPods int
	taints      []corev1.Taint // the node's, plus not-ready when its Ready condition says so
	// unschedulable copies spec.unschedulable, read for every pod and
	// node: kept here to spare a walk into the Node object.
	unschedulable bool

	pods       []*podInfo
	requested  resources
	nonZeroCPU int64
	nonZeroMem int64
	usedPorts  map[hostPort]int // reference counts

	podsWithAffinity     int // pods with any inter-pod term
	podsWithRequiredAnti int
}

func newNodeInfo(name string) *nodeInfo {
	return &nodeInfo{name: name}
}

func (n *nodeInfo) setNode(node *corev1.Node) {
	n.node = node
	n.allocatable, n.allowedPods = nodeAllocatable(node)
	n.taints = effectiveTaints(node)
	n.unschedulable = node.Spec.Unschedulable
}

// effectiveTaints adds the not-ready NoSchedule taint to a node whose Ready
// condition is not True when the node lifecycle controller has not tainted
// it yet, so that no pod lands on a node that cannot run it.
func effectiveTaints(node *corev1.Node) []corev1.Taint {
	if nodeReady(node) {
		return node.Spec.Taints
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) {
			return node.Spec.Taints
		}
	}
	taints := make([]corev1.Taint, 0, len(node.Spec.Taints)+1)
	taints = append(taints, node.Spec.Taints...)
	return append(taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (n *nodeInfo) addPod(pi *podInfo) {
	n.pods = append(n.pods, pi)
	n.account(pi, 1)
}

// removePod forgets the pod with the given UID and returns what was kept
// for it, or nil.
func (n *nodeInfo) removePod(uid types.UID) *podInfo {
	for i, pi := range n.pods {
		if pi.pod.UID != uid {
			continue
		}
		last := len(n.pods) - 1
		n.pods[i] = n.pods[last]
		n.pods[last] = nil
		n.pods = n.pods[:last]
		n.account(pi, -1)
		return pi
	}
	return nil
}

func (n *nodeInfo) account(pi *podInfo, sign int64) {
	n.requested.add(&pi.requests, sign)
	n.nonZeroCPU += sign * pi.nonZeroCPU
	n.nonZeroMem += sign * pi.nonZeroMem
	for _, p := range pi.hostPorts {
		if n.usedPorts == nil {
			n.usedPorts = map[hostPort]int{}
		}
		n.usedPorts[p] += int(sign)
		if n.usedPorts[p] <= 0 {
			delete(n.usedPorts, p)
		}
	}
	if pi.hasAffinity() {
		n.podsWithAffinity += int(sign)
	}
	if len(pi.requiredAnti) > 0 {
		n.podsWithRequiredAnti += int(sign)
	}
}
