package job

import (
	"slices"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/server/controllers"
)

func hasTrackingFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

// replacesOnlyFailed: podReplacementPolicy Failed, so a terminating pod is
// neither replaced nor counted as failed until it reaches phase Failed.
func replacesOnlyFailed(job *batchv1.Job) bool {
	return job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed
}

// isFailed: the pod counts as a failure. A pod deleted before it
// succeeded counts too (it may never get to report phase Failed), unless
// the Job waits for phase Failed.
func isFailed(job *batchv1.Job, p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	return !replacesOnlyFailed(job) && p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func filterPods(pods []*corev1.Pod, keep func(*corev1.Pod) bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

func countPods(pods []*corev1.Pod, match func(*corev1.Pod) bool) int32 {
	n := int32(0)
	for _, p := range pods {
		if match(p) {
			n++
		}
	}
	return n
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// sortForRemoval orders active pods so that the cheapest to lose come
// first, as upstream's controllers pick them: unscheduled before
// scheduled, pending before running, not ready before ready, ready for a
// shorter time first, more restarts first, newer first.
func sortForRemoval(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if phaseRank[a.Status.Phase] != phaseRank[b.Status.Phase] {
			return phaseRank[a.Status.Phase] < phaseRank[b.Status.Phase]
		}
		if controllers.IsPodReady(a) != controllers.IsPodReady(b) {
			return !controllers.IsPodReady(a)
		}
		if controllers.IsPodReady(a) {
			if ta, tb := readySince(a), readySince(b); !ta.Equal(&tb) {
				return laterOrZero(ta, tb)
			}
		}
		if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
			return ra > rb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return laterOrZero(a.CreationTimestamp, b.CreationTimestamp)
		}
		return false
	})
}

func readySince(p *corev1.Pod) metav1.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime
		}
	}
	return metav1.Time{}
}

// laterOrZero: a is unset, or after b.
func laterOrZero(a, b metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

func maxRestarts(p *corev1.Pod) int32 {
	n := int32(0)
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}
