package deployment

import (
	"context"
	"math"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons, as kube-controller-manager writes them.
const (
	reasonRSUpdated           = "ReplicaSetUpdated"
	reasonRSCreateError       = "ReplicaSetCreateError"
	reasonNewRSCreated        = "NewReplicaSetCreated"
	reasonFoundNewRS          = "FoundNewReplicaSet"
	reasonNewRSAvailable      = "NewReplicaSetAvailable"
	reasonTimedOut            = "ProgressDeadlineExceeded"
	reasonPaused              = "DeploymentPaused"
	reasonResumed             = "DeploymentResumed"
	reasonMinimumAvailable    = "MinimumReplicasAvailable"
	reasonMinimumUnavailable  = "MinimumReplicasUnavailable"
	reasonRollbackNotFound    = "DeploymentRollbackRevisionNotFound"
	reasonRollbackUnchanged   = "DeploymentRollbackTemplateUnchanged"
	reasonRollbackDone        = "DeploymentRollback"
	messageMinimumAvailable   = "Deployment has minimum availability."
	messageMinimumUnavailable = "Deployment does not have minimum availability."
)

// updateStatus writes d's status and keeps d's resourceVersion current, so
// a later write in the same sync does not conflict with this one.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err == nil {
		d.ResourceVersion = updated.ResourceVersion
	}
	return err
}

// calculateStatus is d's status from its ReplicaSets (newRS may be nil).
func calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	available := statusSum(all, availableReplicas)
	unavailable := max(0, specReplicas(all)-available)
	status := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            statusSum(all, actualReplicas),
		UpdatedReplicas:     statusSum([]*appsv1.ReplicaSet{newRS}, actualReplicas),
		ReadyReplicas:       statusSum(all, readyReplicas),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		TerminatingReplicas: terminatingReplicas(all),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if available >= *d.Spec.Replicas-maxUnavailable(d) {
		setCondition(&status, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumAvailable, messageMinimumAvailable, now))
	} else {
		setCondition(&status, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumUnavailable, messageMinimumUnavailable, now))
	}
	return status
}

// syncStatus writes d's status as its ReplicaSets make it, if that
// changes anything.
func (c *Controller) syncStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	status := calculateStatus(d, all, newRS, c.now())
	if reflect.DeepEqual(d.Status, status) {
		return nil
	}
	d.Status = status
	return c.updateStatus(ctx, d)
}

// complete tells whether status shows every desired replica updated and
// available, no old one left, for d's current generation.
func complete(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	want := *d.Spec.Replicas
	return status.UpdatedReplicas == want && status.Replicas == want && status.AvailableReplicas == want &&
		status.ObservedGeneration >= d.Generation
}

// progressing tells whether status shows progress over d's last status:
// more new pods, fewer old ones, more ready or available ones.
func progressing(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	old := d.Status
	return status.UpdatedReplicas > old.UpdatedReplicas ||
		status.Replicas-status.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		status.ReadyReplicas > old.ReadyReplicas ||
		status.AvailableReplicas > old.AvailableReplicas
}

// timedOut tells whether d's rollout has gone without progress for longer
// than its progress deadline.
func timedOut(d *appsv1.Deployment, status *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	cond := condition(*status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == reasonNewRSAvailable {
		// No base to measure from, or the last rollout finished and a
		// sync raced with the new one's first status.
		return false
	}
	if cond.Reason == reasonTimedOut {
		return true
	}
	return cond.LastUpdateTime.Add(progressDeadline(d)).Before(now)
}

// hasProgressDeadline tells whether d wants its lack of progress reported
// (MaxInt32 seconds means never).
func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

func progressDeadline(d *appsv1.Deployment) time.Duration {
	return time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
}

func newCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) appsv1.DeploymentCondition {
	at := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: status, LastUpdateTime: at, LastTransitionTime: at, Reason: reason, Message: message}
}

func condition(status appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			c := status.Conditions[i]
			return &c
		}
	}
	return nil
}

// setCondition puts cond into status, unless a condition of its type
// already has its status and reason; a condition keeping its status keeps
// its lastTransitionTime.
func setCondition(status *appsv1.DeploymentStatus, cond appsv1.DeploymentCondition) {
	cur := condition(*status, cond.Type)
	if cur != nil && cur.Status == cond.Status && cur.Reason == cond.Reason {
		return
	}
	if cur != nil && cur.Status == cond.Status {
		cond.LastTransitionTime = cur.LastTransitionTime
	}
	status.Conditions = append(withoutCondition(status.Conditions, cond.Type), cond)
}

func removeCondition(status *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	status.Conditions = withoutCondition(status.Conditions, t)
}

func withoutCondition(conds []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType) []appsv1.DeploymentCondition {
	var out []appsv1.DeploymentCondition
	for _, c := range conds {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}
