package nodelifecycle

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// nodeHealth is what the controller remembers of one node between syncs.
// Heartbeats are timed by this process's clock when it notices them (the
// probe time), never by the timestamps the kubelet writes, so clock skew
// between machines cannot make a node look dead or alive.
type nodeHealth struct {
	uid        types.UID
	probe      time.Time              // when a heartbeat was last noticed
	heartbeat  *metav1.Time           // Ready condition's lastHeartbeatTime, last seen
	leaseRenew *metav1.MicroTime      // node Lease's renewTime, last seen
	ready      corev1.ConditionStatus // Ready status after the last sync ("" if none)
}

// healthMap holds the nodeHealth of every node seen by one Controller.
type healthMap struct {
	mu    sync.Mutex
	nodes map[string]*nodeHealth
}

func newHealthMap() *healthMap { return &healthMap{nodes: map[string]*nodeHealth{}} }

// observation is the outcome of looking at a node's heartbeats.
type observation struct {
	first    bool          // the node had not been seen before
	deadline time.Time     // when the node counts as silent
	expired  bool          // the deadline has passed
	previous nodeHealth    // the record before this observation
	current  *nodeHealth   // the record after it (owned by the map)
	grace    time.Duration // the grace period applied
}

// observe records the node's current heartbeats at now. A node whose Ready
// condition was never posted is judged by the startup grace period and
// counted from its creation, as upstream does.
func (h *healthMap) observe(node *corev1.Node, lease *coordinationv1.Lease, now time.Time, grace, startupGrace time.Duration) observation {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, seen := h.nodes[node.Name]
	var prev nodeHealth
	if seen && rec.uid != node.UID {
		seen = false // a new node with an old name
	}
	if seen {
		prev = *rec
	} else {
		rec = &nodeHealth{uid: node.UID}
		h.nodes[node.Name] = rec
	}
	ready := readyCondition(node)
	if ready == nil {
		grace = startupGrace
		if !seen {
			rec.probe = node.CreationTimestamp.Time
		}
	} else if !seen || rec.heartbeat == nil || !rec.heartbeat.Equal(&ready.LastHeartbeatTime) {
		rec.probe = now
	}
	if ready != nil {
		hb := ready.LastHeartbeatTime
		rec.heartbeat = &hb
	} else {
		rec.heartbeat = nil
	}
	h.noteLease(rec, lease, now)
	deadline := rec.probe.Add(grace)
	return observation{first: !seen, deadline: deadline, expired: now.After(deadline), previous: prev, current: rec, grace: grace}
}

// noteLease counts a renewed Lease as a heartbeat. Callers hold mu.
func (h *healthMap) noteLease(rec *nodeHealth, lease *coordinationv1.Lease, now time.Time) bool {
	if lease == nil || lease.Spec.RenewTime == nil {
		return false
	}
	if rec.leaseRenew != nil && !rec.leaseRenew.Before(lease.Spec.RenewTime) {
		return false
	}
	renew := *lease.Spec.RenewTime
	rec.leaseRenew = &renew
	rec.probe = now
	return true
}

// renewedLease records a Lease read live from the API server; it reports
// whether it is a heartbeat the informer had not delivered yet.
func (h *healthMap) renewedLease(name string, lease *coordinationv1.Lease, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, ok := h.nodes[name]
	if !ok {
		return false
	}
	return h.noteLease(rec, lease, now)
}

// setReady records the node's Ready status after a sync and returns the
// status recorded before.
func (h *healthMap) setReady(name string, status corev1.ConditionStatus) corev1.ConditionStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, ok := h.nodes[name]
	if !ok {
		return ""
	}
	old := rec.ready
	rec.ready = status
	return old
}

// readyOf is the node's Ready status as of its last sync.
func (h *healthMap) readyOf(name string) (corev1.ConditionStatus, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, ok := h.nodes[name]
	if !ok {
		return "", false
	}
	return rec.ready, true
}

// resetProbes gives every node a fresh grace period (used when the cluster
// leaves total disruption: the silence was most likely ours, not theirs).
func (h *healthMap) resetProbes(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rec := range h.nodes {
		rec.probe = now
	}
}

// forget drops a deleted node and returns what was known of it.
func (h *healthMap) forget(name string) (nodeHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, ok := h.nodes[name]
	if !ok {
		return nodeHealth{}, false
	}
	delete(h.nodes, name)
	return *rec, true
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	return nodeCondition(node, corev1.NodeReady)
}

func nodeCondition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// silencedConditions are the conditions the kubelet owns that become
// Unknown when it goes silent (NetworkUnavailable is the network's, not
// the kubelet's, so it is left alone).
var silencedConditions = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

// markSilent sets the kubelet's conditions to Unknown, with upstream's
// reasons and messages, and reports whether the Ready condition changed.
func markSilent(node *corev1.Node, now metav1.Time) bool {
	var before corev1.NodeCondition
	if r := readyCondition(node); r != nil {
		before = *r
	}
	for _, t := range silencedConditions {
		c := nodeCondition(node, t)
		switch {
		case c == nil:
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type:               t,
				Status:             corev1.ConditionUnknown,
				Reason:             "NodeStatusNeverUpdated",
				Message:            "Kubelet never posted node status.",
				LastHeartbeatTime:  node.CreationTimestamp,
				LastTransitionTime: now,
			})
		case c.Status != corev1.ConditionUnknown:
			c.Status = corev1.ConditionUnknown
			c.Reason = "NodeStatusUnknown"
			c.Message = "Kubelet stopped posting node status."
			c.LastTransitionTime = now
		}
	}
	after := readyCondition(node)
	return before.Status != after.Status || before.Reason != after.Reason || before.Message != after.Message ||
		!before.LastTransitionTime.Equal(&after.LastTransitionTime)
}
