package job

import (
	"context"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
)

// Finished pods are counted in two steps, so that a crash never counts a
// pod twice or loses it: first its UID goes into
// status.uncountedTerminatedPods (written to the API), then its tracking
// finalizer is removed, and only then does it move into the succeeded
// or failed counter (Indexed Jobs count succeeded indexes instead of
// UIDs). The Job gets its final Complete or Failed condition only once
// every pod is counted and none is terminating.

// trackFinishedPods counts finished pods, releases their finalizers and
// writes the status if it changed (or needsFlush says it did).
func (c *Controller) trackFinishedPods(ctx context.Context, st *syncState, needsFlush bool) error {
	job := st.job
	indexed := isIndexed(job)
	if indexed {
		st.pods = slices.Clone(st.pods)
		slices.SortStableFunc(st.pods, func(a, b *corev1.Pod) int { return completionIndex(a) - completionIndex(b) })
	}
	tracked := sets.New[types.UID]() // pods still holding the finalizer
	for _, p := range st.pods {
		if hasTrackingFinalizer(p) && !st.releasing.Has(p.UID) {
			tracked.Insert(p.UID)
		}
	}
	if countReleased(&job.Status, tracked) {
		needsFlush = true
	}
	uncounted := job.Status.UncountedTerminatedPods
	var release []*corev1.Pod
	var newSucceededIdx []int
	full := false
	for _, p := range st.pods {
		if !tracked.Has(p.UID) {
			continue // released in an earlier sync
		}
		failed := isFailed(job, p)
		if !st.canRelease(p, failed) {
			continue
		}
		release = append(release, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !st.uncountedFailed.Has(p.UID):
			if indexed {
				if ix := validIndex(job, p); ix != noIndex && !st.prevSucceededIdx.has(ix) {
					newSucceededIdx = append(newSucceededIdx, ix)
					needsFlush = true
				}
			} else if !st.uncountedSucceeded.Has(p.UID) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || (st.ending != nil && st.ending.Type != batchv1.JobSuccessCriteriaMet):
			// An ending Job counts whatever did not succeed as failed.
			if !st.uncountedFailed.Has(p.UID) && (!indexed || validIndex(job, p) != noIndex) &&
				judgeFailure(job.Spec.PodFailurePolicy, p).counts {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newSucceededIdx)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncounted {
			// Enough for one status write; the rest next sync.
			full = true
			break
		}
	}
	if indexed {
		st.succeededIdx = st.succeededIdx.withIndexes(newSucceededIdx...)
		completed := st.succeededIdx.String()
		if completed != job.Status.CompletedIndexes {
			needsFlush = true
		}
		job.Status.Succeeded = int32(st.succeededIdx.count())
		job.Status.CompletedIndexes = completed
		var failedStr *string
		if st.failedIdx != nil {
			failedStr = ptr.To(st.failedIdx.String())
		}
		if !ptr.Equal(job.Status.FailedIndexes, failedStr) {
			job.Status.FailedIndexes = failedStr
			needsFlush = true
		}
	}
	// The interim conditions are written before any finalizer goes, so
	// that the decision survives a restart.
	if st.ending != nil && st.ending.Type == batchv1.JobFailureTarget {
		job.Status.Conditions = append(job.Status.Conditions, *st.ending)
		needsFlush = true
		st.ending = newCondition(batchv1.JobFailed, corev1.ConditionTrue, st.ending.Reason, st.ending.Message, c.clock.Now())
	}
	if st.ending != nil && st.ending.Type == batchv1.JobSuccessCriteriaMet {
		if trueCondition(job, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *st.ending)
			needsFlush = true
		}
		st.ending = newCondition(batchv1.JobComplete, corev1.ConditionTrue, st.ending.Reason, st.ending.Message, c.clock.Now())
	}
	needsFlush, err := c.flushAndRelease(ctx, st, release, tracked, needsFlush)
	if err != nil {
		return err
	}
	finished := !full && c.markFinished(st)
	if !finished && !needsFlush {
		return nil
	}
	updated, err := c.updateStatus(ctx, st.job)
	if err != nil {
		return fmt.Errorf("removing uncounted pods from status: %w", err)
	}
	if finished {
		c.recordFinished(updated, st.ending)
		c.finishing.Store(updated.UID, struct{}{})
	}
	return nil
}

// canRelease: the pod's finalizer may go now. Running pods keep it
// unless the Job is ending or being deleted; a failed pod of an index
// waiting for its replacement keeps it too.
func (st *syncState) canRelease(p *corev1.Pod, failed bool) bool {
	if st.job.DeletionTimestamp != nil || st.ending != nil || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	if hasBackoffLimitPerIndex(st.job) {
		if ix := completionIndex(p); ix != noIndex {
			if waiting, ok := st.delayedByIndex[ix]; ok && waiting.UID == p.UID {
				return false
			}
		}
	}
	return true
}

// flushAndRelease writes the new uncounted pods (if any), then removes
// the finalizers of released pods, then moves the released ones into the
// counters. It reports whether the status still has changes to write.
func (c *Controller) flushAndRelease(ctx context.Context, st *syncState, release []*corev1.Pod, tracked sets.Set[types.UID], needsFlush bool) (bool, error) {
	if needsFlush {
		updated, err := c.updateStatus(ctx, st.job)
		if err != nil {
			return needsFlush, fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		st.job = updated
		c.backoff.set(st.key, st.backoff)
		needsFlush = false
	}
	var releaseErr error
	if len(release) > 0 {
		var ok []bool
		ok, releaseErr = c.releasePods(ctx, st.key, release)
		for i, p := range release {
			if ok[i] {
				tracked.Delete(p.UID)
			}
		}
	}
	if countReleased(&st.job.Status, tracked) {
		needsFlush = true
	}
	if releaseErr != nil && needsFlush {
		// Keep what was done.
		if updated, err := c.updateStatus(ctx, st.job); err == nil {
			st.job = updated
			needsFlush = false
		}
	}
	return needsFlush, releaseErr
}

// releasePods removes the tracking finalizer of pods in parallel and
// tells which succeeded (a pod already gone counts as released).
func (c *Controller) releasePods(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.finalizers.expectRemoved(key, uids...)
	ok := make([]bool, len(pods))
	err := controllers.Parallel(len(pods), func(i int) error {
		if err := c.removeTrackingFinalizer(ctx, pods[i]); err != nil {
			c.finalizers.observedRemoved(key, pods[i].UID)
			return err
		}
		ok[i] = true
		return nil
	})
	return ok, err
}

// countReleased moves uncounted pods whose finalizer is gone into the
// succeeded and failed counters, and reports a change.
func countReleased(status *batchv1.JobStatus, tracked sets.Set[types.UID]) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if tracked.Has(uid) {
				out = append(out, uid)
			}
		}
		return out
	}
	succeeded, failed := keep(u.Succeeded), keep(u.Failed)
	moved := len(u.Succeeded) - len(succeeded) + len(u.Failed) - len(failed)
	status.Succeeded += int32(len(u.Succeeded) - len(succeeded))
	status.Failed += int32(len(u.Failed) - len(failed))
	u.Succeeded, u.Failed = succeeded, failed
	return moved > 0
}

// markFinished writes the final condition if every pod is counted and
// none is terminating, and reports whether it did.
func (c *Controller) markFinished(st *syncState) bool {
	if st.ending == nil {
		return false
	}
	job := st.job
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if st.terminating > 0 {
		return false
	}
	e := st.ending
	job.Status.Conditions, _ = setCondition(job.Status.Conditions, e.Type, e.Status, e.Reason, e.Message, c.clock.Now())
	if e.Type == batchv1.JobComplete {
		job.Status.CompletionTime = &e.LastTransitionTime
	}
	return true
}

// recordFinished emits the events of a finished Job.
func (c *Controller) recordFinished(job *batchv1.Job, cond *batchv1.JobCondition) {
	if cond.Type != batchv1.JobComplete {
		c.rec.Eventf(job, nil, corev1.EventTypeWarning, cond.Reason, "Fail", "%s", cond.Message)
		return
	}
	if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
		c.rec.Eventf(job, nil, corev1.EventTypeWarning, "TooManySucceededPods", "Complete", "Too many succeeded pods running after completion count reached")
	}
	c.rec.Eventf(job, nil, corev1.EventTypeNormal, "Completed", "Complete", "Job completed")
}

func (c *Controller) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	updated, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	if updated.Status.UncountedTerminatedPods == nil {
		updated.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	return updated, nil
}
