package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
)

// syncState is what one sync of a Job learns and decides.
type syncState struct {
	key  string
	job  *batchv1.Job // a copy: the status is built in it
	pods []*corev1.Pod
	// active pods are running or may run; ready and terminating count
	// pods in those states as the status reports them.
	active             []*corev1.Pod
	ready, terminating int32
	// succeeded and failed include pods not yet in the status counters.
	succeeded, failed int32
	// Indexed Jobs: indexes already in the status, and all succeeded ones.
	prevSucceededIdx, succeededIdx indexSet
	// failedIdx is set for Jobs with backoffLimitPerIndex.
	failedIdx *indexSet
	// delayedByIndex is, per index, the failed pod whose finalizer stays
	// until its replacement exists (it carries the index's failure count).
	delayedByIndex                      map[int]*corev1.Pod
	uncountedSucceeded, uncountedFailed sets.Set[types.UID]
	// releasing are pods whose finalizer removal the cache has not shown.
	releasing sets.Set[types.UID]
	backoff   backoffRecord
	// ending is the condition that ends the Job once all its pods are
	// accounted for: FailureTarget or SuccessCriteriaMet on the way in,
	// Failed or Complete once those are written.
	ending *batchv1.JobCondition
}

// sync moves one Job a step toward its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		c.finalizers.forget(key)
		c.backoff.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if managedElsewhere(shared) {
		return nil
	}
	if isFinished(shared) {
		c.backoff.forget(key)
		c.finishing.Delete(shared.UID)
		return nil
	}
	if _, ok := c.finishing.Load(shared.UID); ok {
		return nil // finished already; the cache has not caught up
	}
	if m := shared.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		c.rec.Eventf(shared, nil, corev1.EventTypeWarning, "UnknownCompletionMode", "Sync", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	job := shared.DeepCopy()
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Expectations are read before the pods: a pod arriving in between
	// is then seen by the next sync rather than lost.
	satisfied := c.expectations.Satisfied(key)
	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return err
	}
	st := &syncState{
		key: key, job: job, pods: pods,
		active:             filterPods(pods, controllers.IsPodActive),
		terminating:        countPods(pods, controllers.IsPodTerminating),
		uncountedSucceeded: sets.New(job.Status.UncountedTerminatedPods.Succeeded...),
		uncountedFailed:    sets.New(job.Status.UncountedTerminatedPods.Failed...),
		releasing:          c.finalizers.pending(key),
	}
	st.ready = countPods(st.active, controllers.IsPodReady)
	active := int32(len(st.active))
	newSucceeded, newFailed := st.newlyFinished()
	st.succeeded = job.Status.Succeeded + int32(len(newSucceeded)+st.uncountedSucceeded.Len())
	st.failed = job.Status.Failed + int32(len(filterPods(newFailed, func(p *corev1.Pod) bool { return judgeFailure(job.Spec.PodFailurePolicy, p).counts }))+st.uncountedFailed.Len())
	if job.Status.StartTime == nil && !isSuspended(job) {
		now := metav1.NewTime(c.clock.Now())
		job.Status.StartTime = &now
	}
	st.backoff = c.backoff.get(key).next(newSucceeded, newFailed)

	c.decideEnding(st)

	var manageErr error
	suspendChanged := false
	if st.ending != nil {
		// The Job is ending: stop what still runs. The pods keep their
		// finalizer so that they are counted as failed.
		deletedReady, deleted, err := c.deleteActivePods(ctx, job, st.active)
		if deleted != active || !satisfied {
			// Pods remain, or the cache is behind: finish next time.
			st.ending = nil
		}
		active -= deleted
		st.terminating += deleted
		st.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manage(ctx, st)
			managed = true
		}
		var complete bool
		if job.Spec.Completions == nil {
			// Any success completes the Job once nothing runs any more.
			complete = st.succeeded > 0 && active == 0
		} else {
			complete = st.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			st.ending = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletions, c.clock.Now())
		case managed:
			suspendChanged = c.updateSuspendedCondition(job)
		}
	}

	needsFlush := suspendChanged || active != job.Status.Active ||
		!ptr.Equal(job.Status.Ready, &st.ready) || !ptr.Equal(job.Status.Terminating, &st.terminating)
	job.Status.Active = active
	job.Status.Ready = ptr.To(st.ready)
	job.Status.Terminating = ptr.To(st.terminating)
	if err := c.trackFinishedPods(ctx, st, needsFlush); err != nil {
		return fmt.Errorf("tracking status: %w", err)
	}
	return manageErr
}

// newlyFinished returns the finished pods not counted yet in any way.
func (st *syncState) newlyFinished() (succeeded, failed []*corev1.Pod) {
	for _, p := range st.pods {
		if !hasTrackingFinalizer(p) || st.releasing.Has(p.UID) {
			continue
		}
		if isIndexed(st.job) && validIndex(st.job, p) == noIndex {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded && !st.uncountedSucceeded.Has(p.UID) {
			succeeded = append(succeeded, p)
		} else if isFailed(st.job, p) && !st.uncountedFailed.Has(p.UID) {
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// decideEnding finds whether the Job must end, in upstream's order: a
// decision taken before stands; then failures (pod failure policy,
// backoff limit, deadline, failed indexes); then success policy.
func (c *Controller) decideEnding(st *syncState) {
	job, now := st.job, c.clock.Now()
	st.ending = trueCondition(job, batchv1.JobSuccessCriteriaMet)
	if st.ending == nil {
		if target := trueCondition(job, batchv1.JobFailureTarget); target != nil {
			st.ending = newCondition(batchv1.JobFailed, corev1.ConditionTrue, target.Reason, target.Message, now)
		} else if msg := failJobMessage(job, st.pods); msg != "" {
			st.ending = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, msg, now)
		}
	}
	failure := func(reason, msg string) *batchv1.JobCondition {
		return newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, reason, msg, now)
	}
	if st.ending == nil {
		switch {
		case st.failed > *job.Spec.BackoffLimit || restartsExceedBackoffLimit(job, st.pods):
			st.ending = failure(batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit)
		case c.pastDeadline(job):
			st.ending = failure(batchv1.JobReasonDeadlineExceeded, msgDeadline)
		case job.Spec.ActiveDeadlineSeconds != nil && !isSuspended(job) && job.Status.StartTime != nil:
			left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - c.clock.Since(job.Status.StartTime.Time)
			c.queue.AddAfter(st.key, left)
		}
	}
	if !isIndexed(job) {
		return
	}
	completions := int(*job.Spec.Completions)
	st.prevSucceededIdx = parseIndexSet(job.Status.CompletedIndexes, completions)
	st.succeededIdx = st.prevSucceededIdx.union(podsIndexes(job, filterPods(st.pods, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded && hasTrackingFinalizer(p)
	})))
	st.succeeded = int32(st.succeededIdx.count())
	if hasBackoffLimitPerIndex(job) {
		st.failedIdx = failedIndexes(job, st.pods)
		if st.ending == nil {
			if job.Spec.MaxFailedIndexes != nil && st.failedIdx.count() > int(*job.Spec.MaxFailedIndexes) {
				st.ending = failure(batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexes)
			} else if st.failedIdx.count() > 0 && st.failedIdx.count()+st.succeededIdx.count() >= completions {
				st.ending = failure(batchv1.JobReasonFailedIndexes, msgFailedIndexes)
			}
		}
		st.delayedByIndex = st.podsAwaitingReplacement()
	}
	if st.ending == nil {
		if msg, ok := successPolicyMet(job.Spec.SuccessPolicy, completions, st.succeededIdx); ok {
			st.ending = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg, now)
		}
	}
}

// failJobMessage is the message of the first FailJob rule of the pod
// failure policy that a failed pod matches.
func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) string {
	if job.Spec.PodFailurePolicy == nil {
		return ""
	}
	for _, p := range pods {
		if isFailed(job, p) {
			if v := judgeFailure(job.Spec.PodFailurePolicy, p); v.failJobMessage != "" {
				return v.failJobMessage
			}
		}
	}
	return ""
}

// restartsExceedBackoffLimit: with restartPolicy OnFailure pods do not
// fail, their containers restart; those restarts count against the limit.
func restartsExceedBackoffLimit(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	restarts := int32(0)
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

// pastDeadline: the Job has been running (unsuspended) for longer than
// activeDeadlineSeconds.
func (c *Controller) pastDeadline(job *batchv1.Job) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return false
	}
	return c.clock.Since(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// updateSuspendedCondition keeps the Suspended condition in step with
// spec.suspend and reports whether it changed. Suspending clears
// startTime; resuming restarts it, so that activeDeadlineSeconds counts
// time actually running.
func (c *Controller) updateSuspendedCondition(job *batchv1.Job) bool {
	now := c.clock.Now()
	var changed bool
	if isSuspended(job) {
		job.Status.Conditions, changed = setCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
		if changed {
			c.rec.Eventf(job, nil, corev1.EventTypeNormal, "Suspended", "Suspend", "Job suspended")
			job.Status.StartTime = nil
		}
		return changed
	}
	job.Status.Conditions, changed = setCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
	if changed {
		c.rec.Eventf(job, nil, corev1.EventTypeNormal, "Resumed", "Resume", "Job resumed")
		start := metav1.NewTime(now)
		job.Status.StartTime = &start
	}
	return changed
}
