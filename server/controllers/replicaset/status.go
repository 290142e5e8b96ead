package replicaset

import (
	"context"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
)

// calculateStatus is rs's status given its active and terminating pods
// and the outcome of managing its replicas.
func calculateStatus(rs *appsv1.ReplicaSet, active, terminating []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	template := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fullyLabeled, ready, available int32
	for _, p := range active {
		if template.Matches(labels.Set(p.Labels)) {
			fullyLabeled++
		}
		if controllers.IsPodReady(p) {
			ready++
			if controllers.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := replicaFailure(rs.Status)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(active) - int(*rs.Spec.Replicas); diff < 0 {
			reason = "FailedCreate"
		} else if diff > 0 {
			reason = "FailedDelete"
		}
		status.Conditions = append(withoutReplicaFailure(status.Conditions), appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now),
			Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		status.Conditions = withoutReplicaFailure(status.Conditions)
	}
	status.Replicas = int32(len(active))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.TerminatingReplicas = ptr.To(int32(len(terminating)))
	return status
}

func replicaFailure(s appsv1.ReplicaSetStatus) *appsv1.ReplicaSetCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &s.Conditions[i]
		}
	}
	return nil
}

func withoutReplicaFailure(conds []appsv1.ReplicaSetCondition) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range conds {
		if c.Type != appsv1.ReplicaSetReplicaFailure {
			out = append(out, c)
		}
	}
	return out
}

// updateStatus writes status to rs unless nothing changed, retrying once
// on a fresh copy. rs must be the controller's own copy.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	s := rs.Status
	if s.Replicas == status.Replicas && s.FullyLabeledReplicas == status.FullyLabeledReplicas &&
		s.ReadyReplicas == status.ReadyReplicas && s.AvailableReplicas == status.AvailableReplicas &&
		ptr.Equal(s.TerminatingReplicas, status.TerminatingReplicas) && rs.Generation == s.ObservedGeneration &&
		reflect.DeepEqual(s.Conditions, status.Conditions) {
		return rs, nil
	}
	// The generation acted on, not whatever the retry reads.
	status.ObservedGeneration = rs.Generation
	client := c.client.AppsV1().ReplicaSets(rs.Namespace)
	for attempt := 0; ; attempt++ {
		rs.Status = status
		updated, err := client.UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		if err == nil || attempt == 1 {
			return updated, err
		}
		if rs, err = client.Get(ctx, rs.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
}
