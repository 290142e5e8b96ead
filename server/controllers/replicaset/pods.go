package replicaset

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// isActive tells whether a pod still counts toward a replica count: not
// finished and not on its way out.
func isActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// isTerminating tells whether a pod is being deleted but may still run.
func isTerminating(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isAvailable tells whether a pod has been ready for at least
// minReadySeconds at now.
func isAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	since := readyCondition(p).LastTransitionTime
	return !since.IsZero() && !since.Add(time.Duration(minReadySeconds)*time.Second).After(now)
}

// untilAvailable is how long after now the earliest ready-but-not-yet-
// available pod becomes available, or false if no pod is waiting.
func untilAvailable(pods []*corev1.Pod, minReadySeconds int32, now time.Time) (time.Duration, bool) {
	if minReadySeconds <= 0 {
		return 0, false
	}
	var soonest time.Duration
	found := false
	for _, p := range pods {
		if !isReady(p) {
			continue
		}
		since := readyCondition(p).LastTransitionTime
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

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
