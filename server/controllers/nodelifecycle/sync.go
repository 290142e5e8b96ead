package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kite/server/controllers"
)

// deadlineSlack is added to a node's heartbeat deadline before looking at
// it again, so the look does not land a hair before the deadline.
const deadlineSlack = 50 * time.Millisecond

// syncNode brings one node up to date: its conditions (Unknown once the
// kubelet is silent past the grace period), its condition and cordon
// taints, its pods' readiness, and its NoExecute taint. A healthy node is
// looked at again when its grace period would run out.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	cached, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.nodeGone(name)
		return nil
	}
	if err != nil {
		return err
	}
	node := cached.DeepCopy()
	lease, _ := c.leases.Leases(corev1.NamespaceNodeLease).Get(name)
	now := c.now()
	obs := c.health.observe(node, lease, now, c.MonitorGracePeriod, c.StartupGracePeriod)
	if obs.first {
		c.recordNodeEvent(node, "RegisteredNode", fmt.Sprintf("Registered Node %s in Controller", name))
	}
	observed := corev1.ConditionUnknown
	if r := readyCondition(node); r != nil {
		observed = r.Status
	}

	deadline := obs.deadline
	if obs.expired {
		// The Lease cache may lag: a live read has the last word before
		// the node is declared silent.
		live, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil && c.health.renewedLease(name, live, now):
			obs.expired, deadline = false, now.Add(obs.grace)
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("reading the Lease of node %s: %w", name, err)
		}
	}
	if obs.expired && markSilent(node, metav1.NewTime(now)) {
		updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("marking node %s Unknown: %w", name, err)
		}
		c.log.Info("node stopped posting status", "node", name, "silentFor", now.Sub(obs.current.probe).Round(time.Second))
		node = updated
	}

	current := readyCondition(node)
	var status corev1.ConditionStatus
	if current != nil {
		status = current.Status
	}
	if prev := c.health.setReady(name, status); obs.first || prev != status {
		c.updateZones()
	}

	if node, err = c.reconcileNoSchedule(ctx, node); err != nil {
		return err
	}
	if current != nil {
		if err := c.podsFollowNode(ctx, node, observed, status); err != nil {
			return err
		}
	}
	retry, err := c.reconcileNoExecute(ctx, node, status)
	if err != nil {
		return err
	}
	if !obs.expired {
		if wait := deadline.Sub(now) + deadlineSlack; retry == 0 || wait < retry {
			retry = wait
		}
	}
	if retry > 0 {
		return controllers.RetryAfter(retry)
	}
	return nil
}

// podsFollowNode marks the node's pods not Ready when this controller has
// just found the node silent (the kubelet is not there to do it), with the
// NodeNotReady event on the node; a failed attempt is retried while the
// node stays not Ready.
func (c *Controller) podsFollowNode(ctx context.Context, node *corev1.Node, observed, current corev1.ConditionStatus) error {
	_, retry := c.retryPods.Load(node.Name)
	switch {
	case observed == corev1.ConditionTrue && current != corev1.ConditionTrue:
		c.recorder.Eventf(node, nil, corev1.EventTypeNormal, "NodeNotReady", "NodeNotReady", "Node %s status is now: %s", node.Name, "NodeNotReady")
	case retry && observed != corev1.ConditionTrue:
	default:
		c.retryPods.Delete(node.Name)
		return nil
	}
	if err := c.markPodsNotReady(ctx, controllers.PodsOnNode(c.podIndex, node.Name), node.Name); err != nil {
		c.retryPods.Store(node.Name, struct{}{})
		return err
	}
	c.retryPods.Delete(node.Name)
	return nil
}

// reconcileNoSchedule gives the node the NoSchedule taints its conditions
// and cordon call for, and takes away those they no longer do.
func (c *Controller) reconcileNoSchedule(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	taints, changed := reconcileNoSchedule(node.Spec.Taints, noScheduleTaints(node), metav1.NewTime(c.now()))
	if !changed {
		return node, nil
	}
	updated, err := patchTaints(ctx, c.client, node, taints)
	if err != nil {
		return nil, fmt.Errorf("updating NoSchedule taints of node %s: %w", node.Name, err)
	}
	return updated, nil
}

// reconcileNoExecute keeps the node's NoExecute taint in step with its
// Ready condition: not-ready for False, unreachable for Unknown, none for
// True. Switching between the two is immediate; tainting a node that had
// neither is paced per zone, and stops altogether while every zone is
// fully disrupted (then the control plane, not the nodes, is likely cut
// off). It returns when to look again if the pace held the taint back.
func (c *Controller) reconcileNoExecute(ctx context.Context, node *corev1.Node, ready corev1.ConditionStatus) (time.Duration, error) {
	var want, opposite corev1.Taint
	switch {
	case c.zones.totalDisruption() || ready == corev1.ConditionTrue:
		return 0, c.swapNoExecute(ctx, node, nil, []corev1.Taint{notReadyNoExecute, unreachableNoExecute})
	case ready == corev1.ConditionFalse:
		want, opposite = notReadyNoExecute, unreachableNoExecute
	case ready == corev1.ConditionUnknown:
		want, opposite = unreachableNoExecute, notReadyNoExecute
	default:
		return 0, nil // never posted a Ready condition and still in its startup grace
	}
	has, hasOpposite := containsTaint(node.Spec.Taints, want), containsTaint(node.Spec.Taints, opposite)
	switch {
	case has && !hasOpposite:
		return 0, nil
	case !has && !hasOpposite:
		if ok, retry := c.zones.admitTaint(zoneOf(node)); !ok {
			return retry, nil
		}
	}
	return 0, c.swapNoExecute(ctx, node, []corev1.Taint{want}, []corev1.Taint{opposite})
}

func (c *Controller) swapNoExecute(ctx context.Context, node *corev1.Node, add, remove []corev1.Taint) error {
	taints, changed := swapTaints(node.Spec.Taints, add, remove, metav1.NewTime(c.now()))
	if !changed {
		return nil
	}
	if _, err := patchTaints(ctx, c.client, node, taints); err != nil {
		return fmt.Errorf("updating NoExecute taints of node %s: %w", node.Name, err)
	}
	return nil
}

// nodeGone forgets a deleted node.
func (c *Controller) nodeGone(name string) {
	c.retryPods.Delete(name)
	rec, ok := c.health.forget(name)
	if !ok {
		return
	}
	gone := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: rec.uid}}
	c.recordNodeEvent(gone, "RemovingNode", fmt.Sprintf("Removing Node %s from Controller", name))
	c.updateZones()
}

// updateZones recomputes zone health after a node's readiness changed and
// requeues the nodes whose NoExecute tainting that affects.
func (c *Controller) updateZones() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	var counted []readiness
	for _, n := range nodes {
		if excludedFromDisruption(n) {
			continue
		}
		status, known := c.health.readyOf(n.Name)
		if !known {
			if r := readyCondition(n); r != nil {
				status = r.Status
			}
		}
		counted = append(counted, readiness{zone: zoneOf(n), ready: status == corev1.ConditionTrue})
	}
	ch := c.zones.update(counted)
	if ch.enteredTotal {
		c.log.Warn("no node is Ready: stopping taint-based eviction until one is")
	}
	if ch.leftTotal {
		c.log.Info("some nodes are Ready again: resuming taint-based eviction")
		c.health.resetProbes(c.now())
	}
	changed := map[string]bool{}
	for _, z := range ch.changed {
		changed[z] = true
	}
	for _, n := range nodes {
		if ch.enteredTotal || ch.leftTotal || changed[zoneOf(n)] {
			c.nodeQueue.Add(n.Name)
		}
	}
}

// recordNodeEvent records an event about the node in upstream's words.
func (c *Controller) recordNodeEvent(node *corev1.Node, reason, what string) {
	c.recorder.Eventf(node, nil, corev1.EventTypeNormal, reason, reason, "Node %s event: %s", node.Name, what)
}
