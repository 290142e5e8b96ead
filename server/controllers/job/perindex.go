package job

import (
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Jobs with backoffLimitPerIndex count failures per completion index: each
// pod carries its index's failure count in an annotation, handed from the
// failed pod to its replacement, so the failed pod keeps its finalizer
// until the replacement exists.

// failedIndexes is the set of indexes failed for good: the status's,
// plus those of failed pods over the per-index limit or matching a
// FailIndex rule.
func failedIndexes(job *batchv1.Job, pods []*corev1.Pod) *indexSet {
	var failed indexSet
	if job.Status.FailedIndexes != nil {
		failed = parseIndexSet(*job.Status.FailedIndexes, int(*job.Spec.Completions))
	}
	var ixs []int
	for _, p := range pods {
		if ix := validIndex(job, p); ix != noIndex && hasTrackingFinalizer(p) && indexFailedForGood(job, p) {
			ixs = append(ixs, ix)
		}
	}
	failed = failed.withIndexes(ixs...)
	return &failed
}

func indexFailedForGood(job *batchv1.Job, p *corev1.Pod) bool {
	if !isFailed(job, p) {
		return false
	}
	v := judgeFailure(job.Spec.PodFailurePolicy, p)
	if v.action == batchv1.PodFailurePolicyActionFailIndex {
		return true
	}
	return v.counts && annotationCount(p, batchv1.JobIndexFailureCountAnnotation) >= *job.Spec.BackoffLimitPerIndex
}

// podsAwaitingReplacement returns, per index that still needs a pod, the
// latest failed pod of that index (the one with the highest count).
func (st *syncState) podsAwaitingReplacement() map[int]*corev1.Pod {
	job := st.job
	running := podsIndexes(job, st.active)
	out := map[int]*corev1.Pod{}
	for _, p := range st.pods {
		if !hasTrackingFinalizer(p) || st.releasing.Has(p.UID) || !isFailed(job, p) {
			continue
		}
		ix := validIndex(job, p)
		if ix == noIndex || st.succeededIdx.has(ix) || st.failedIdx.has(ix) || running.has(ix) {
			continue
		}
		if prev, ok := out[ix]; !ok || (totalIndexFailures(prev) <= totalIndexFailures(p) && !podFinishTime(p).Before(podFinishTime(prev))) {
			out[ix] = p
		}
	}
	return out
}

// indexesReadyForPods keeps the indexes whose own backoff has passed; if
// none has, it returns how long until the first one does.
func (c *Controller) indexesReadyForPods(st *syncState, indexes []int) ([]int, time.Duration) {
	var ready []int
	var soonest time.Duration
	for _, ix := range indexes {
		wait := time.Duration(0)
		if last := st.delayedByIndex[ix]; last != nil {
			r := backoffRecord{failuresSinceSuccess: totalIndexFailures(last) + 1, lastFailure: podFinishTime(last)}
			wait = r.remaining(c.clock, c.podBackoff, c.maxPodBackoff)
		}
		if wait == 0 {
			ready = append(ready, ix)
		} else if soonest == 0 || wait < soonest {
			soonest = wait
		}
	}
	if len(ready) > 0 {
		return ready, 0
	}
	return nil, soonest
}

// nextIndexFailureCounts are the counted and ignored failure counts of
// the pod replacing replaced (nil for an index's first pod).
func nextIndexFailureCounts(job *batchv1.Job, replaced *corev1.Pod) (counted, ignored int32) {
	if replaced == nil {
		return 0, 0
	}
	counted = annotationCount(replaced, batchv1.JobIndexFailureCountAnnotation)
	ignored = annotationCount(replaced, batchv1.JobIndexIgnoredFailureCountAnnotation)
	if judgeFailure(job.Spec.PodFailurePolicy, replaced).counts {
		counted++
	} else {
		ignored++
	}
	return counted, ignored
}

func totalIndexFailures(p *corev1.Pod) int32 {
	return annotationCount(p, batchv1.JobIndexFailureCountAnnotation) + annotationCount(p, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

// annotationCount reads a non-negative int32 annotation; anything else
// counts as 0.
func annotationCount(p *corev1.Pod, key string) int32 {
	n, err := strconv.Atoi(p.Annotations[key])
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0
	}
	return int32(n)
}
