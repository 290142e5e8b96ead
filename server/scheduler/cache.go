package scheduler

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"kite/server/controllers"
)

// nodeCache is the scheduler's picture of the cluster: every node with the
// pods assigned to it, including pods the scheduler has placed but the API
// server has not yet confirmed (assumed pods), so that the next decisions
// count them. It keeps pointers to the informers' objects, never copies.
type nodeCache struct {
	mu    sync.Mutex
	nodes map[string]*nodeInfo
	// list holds the nodes that have a Node object, in a stable order so
	// that filtering can resume where the previous pod stopped.
	list  []*nodeInfo
	index map[string]int // position in list
	pods  map[types.UID]*placedPod

	podsWithAffinity     int // cluster-wide, to skip inter-pod work when zero
	podsWithRequiredAnti int
}

type placedPod struct {
	info    *podInfo
	node    string
	assumed bool // placed by this scheduler, binding not yet seen by the informer
}

func newNodeCache() *nodeCache {
	return &nodeCache{nodes: map[string]*nodeInfo{}, index: map[string]int{}, pods: map[types.UID]*placedPod{}}
}

func (c *nodeCache) setNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node.Name]
	if n == nil {
		n = newNodeInfo(node.Name)
		c.nodes[node.Name] = n
	}
	if n.node == nil {
		c.index[node.Name] = len(c.list)
		c.list = append(c.list, n)
	}
	n.setNode(node)
}

func (c *nodeCache) deleteNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil {
		return
	}
	if i, ok := c.index[name]; ok {
		last := len(c.list) - 1
		c.list[i] = c.list[last]
		c.index[c.list[i].name] = i
		c.list[last] = nil
		c.list = c.list[:last]
		delete(c.index, name)
	}
	n.node = nil
	if len(n.pods) == 0 {
		delete(c.nodes, name)
	}
}

// setAssignedPod records a pod the informer shows on a node: it confirms
// an assumed pod, or adds or updates one bound by anyone. Pods that have
// finished use nothing any more and are dropped.
func (c *nodeCache) setAssignedPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if controllers.IsPodTerminal(pod) {
		c.removeLocked(pod.UID)
		return
	}
	c.removeLocked(pod.UID)
	c.placeLocked(newPodInfo(pod), pod.Spec.NodeName, false)
}

// removePod forgets a deleted pod; it tells whether the pod was placed.
func (c *nodeCache) removePod(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	placed := c.pods[uid] != nil
	c.removeLocked(uid)
	return placed
}

// assumeLocked places a pod the scheduler has chosen a node for; the
// caller holds c.mu (the scheduling cycle does).
func (c *nodeCache) assumeLocked(pi *podInfo, node string) {
	c.removeLocked(pi.pod.UID)
	c.placeLocked(pi, node, true)
}

// forget undoes an assumption whose binding failed. A pod the informer has
// meanwhile shown as bound stays.
func (c *nodeCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pods[uid]; p != nil && p.assumed {
		c.removeLocked(uid)
	}
}

// placed tells whether the pod is assigned to a node, bound or assumed.
func (c *nodeCache) placed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[uid] != nil
}

func (c *nodeCache) placeLocked(pi *podInfo, node string, assumed bool) {
	n := c.nodes[node]
	if n == nil {
		n = newNodeInfo(node)
		c.nodes[node] = n
	}
	n.addPod(pi)
	c.pods[pi.pod.UID] = &placedPod{info: pi, node: node, assumed: assumed}
	c.countAffinity(pi, 1)
}

func (c *nodeCache) removeLocked(uid types.UID) {
	p := c.pods[uid]
	if p == nil {
		return
	}
	delete(c.pods, uid)
	n := c.nodes[p.node]
	if n == nil {
		return
	}
	if pi := n.removePod(uid); pi != nil {
		c.countAffinity(pi, -1)
	}
	if n.node == nil && len(n.pods) == 0 {
		delete(c.nodes, p.node)
	}
}

func (c *nodeCache) countAffinity(pi *podInfo, sign int) {
	if pi.hasAffinity() {
		c.podsWithAffinity += sign
	}
	if len(pi.requiredAnti) > 0 {
		c.podsWithRequiredAnti += sign
	}
}
