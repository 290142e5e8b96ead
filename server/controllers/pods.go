package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The pod states the workload controllers count by, with upstream's
// meanings (k8s.io/kubernetes/pkg/api/v1/pod and pkg/controller).

// PodReadyCondition is the pod's Ready condition, or nil.
func PodReadyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady tells whether the pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	c := PodReadyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable tells whether the pod has been ready for at least
// minReadySeconds at now.
func IsPodAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !IsPodReady(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	since := PodReadyCondition(pod).LastTransitionTime
	return !since.IsZero() && !since.Add(time.Duration(minReadySeconds)*time.Second).After(now)
}

// UntilAvailable is how long after now the first pod that is ready but
// not yet available becomes available; false when no pod is waiting for
// that (a controller then has no reason to look again on its own).
func UntilAvailable(pods []*corev1.Pod, minReadySeconds int32, now time.Time) (time.Duration, bool) {
	if minReadySeconds <= 0 {
		return 0, false
	}
	var soonest time.Duration
	found := false
	for _, p := range pods {
		if !IsPodReady(p) {
			continue
		}
		since := PodReadyCondition(p).LastTransitionTime
		if since.IsZero() {
			continue
		}
		wait := since.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		if wait > 0 && (!found || wait < soonest) {
			soonest, found = wait, true
		}
	}
	return soonest, found
}

// BecameReady tells whether an update turned the pod Ready: its owner
// should then look again once minReadySeconds have passed.
func BecameReady(old, cur *corev1.Pod) bool {
	return !IsPodReady(old) && IsPodReady(cur)
}

// IsPodTerminal tells whether the pod has finished for good (Succeeded or
// Failed).
func IsPodTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// IsPodActive tells whether the pod runs, or may still run, for its
// owner: not finished and not being deleted.
func IsPodActive(pod *corev1.Pod) bool {
	return !IsPodTerminal(pod) && pod.DeletionTimestamp == nil
}

// IsPodTerminating tells whether the pod is being deleted but has not
// finished yet.
func IsPodTerminating(pod *corev1.Pod) bool {
	return !IsPodTerminal(pod) && pod.DeletionTimestamp != nil
}

// PodKey is the pod's namespace/name key.
func PodKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
