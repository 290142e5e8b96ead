package deployment

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// syncRolloutStatus writes d's status during a rollout, including the
// Progressing condition: complete, progressing, or past its deadline.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	now := c.now()
	status := calculateStatus(d, all, newRS, now)
	if !hasProgressDeadline(d) {
		removeCondition(&status, appsv1.DeploymentProgressing)
	}
	cur := condition(d.Status, appsv1.DeploymentProgressing)
	alreadyComplete := status.Replicas == status.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !alreadyComplete {
		subject := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case complete(d, &status):
			setCondition(&status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSAvailable,
				subject+" has successfully progressed.", now))
		case progressing(d, &status):
			// Progress refreshes lastUpdateTime even with an unchanged
			// reason: that is what the deadline is measured from.
			cond := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonRSUpdated, subject+" is progressing.", now)
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&status, appsv1.DeploymentProgressing)
			}
			setCondition(&status, cond)
		case timedOut(d, &status, now):
			setCondition(&status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonTimedOut,
				subject+" has timed out progressing.", now))
		}
	}
	if failure := replicaFailure(all, newRS); failure != nil {
		setCondition(&status, *failure)
	} else {
		removeCondition(&status, appsv1.DeploymentReplicaFailure)
	}
	if reflect.DeepEqual(d.Status, status) {
		c.requeueStuck(d, status, now)
		return nil
	}
	d.Status = status
	return c.updateStatus(ctx, d)
}

// replicaFailure is the ReplicaFailure condition of the new ReplicaSet, or
// else of the first old one that has it, as a Deployment condition.
func replicaFailure(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		for _, rc := range rs.Status.Conditions {
			if rc.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{
					Type: appsv1.DeploymentConditionType(rc.Type), Status: rc.Status,
					LastTransitionTime: rc.LastTransitionTime, LastUpdateTime: rc.LastTransitionTime,
					Reason: rc.Reason, Message: rc.Message,
				}
			}
		}
	}
	return nil
}

// requeueStuck schedules a look at d for the moment its progress deadline
// passes, if its rollout is still under way: nothing else would wake it.
func (c *Controller) requeueStuck(d *appsv1.Deployment, status appsv1.DeploymentStatus, now time.Time) {
	cur := condition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil || complete(d, &status) || cur.Reason == reasonTimedOut {
		return
	}
	key := d.Namespace + "/" + d.Name
	after := max(0, cur.LastUpdateTime.Add(progressDeadline(d)).Sub(now))
	// A second more, so the check lands after the deadline (kept in
	// whole seconds), not on it.
	c.queue.AddAfter(key, after+time.Second)
}

// checkPausedConditions records pausing and resuming in the Progressing
// condition, so time spent paused never counts against the deadline.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cur := condition(d.Status, appsv1.DeploymentProgressing)
	if cur != nil && cur.Reason == reasonTimedOut {
		return nil // a reported failure stays reported
	}
	paused := cur != nil && cur.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}
