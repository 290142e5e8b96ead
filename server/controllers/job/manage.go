package job

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/server/controllers"
)

// manage creates or deletes pods so that the right number run, and
// returns how many are active afterwards. It never both creates and
// deletes in one sync; deleting wins.
func (c *Controller) manage(ctx context.Context, st *syncState) (int32, error) {
	job := st.job
	active := int32(len(st.active))
	if isSuspended(job) {
		return c.scaleDown(ctx, st, removalCandidates(job, st.active, len(st.active)))
	}

	var want int32
	switch {
	case job.Spec.Completions == nil && st.succeeded > 0:
		// One pod succeeded: the work is done, let the others finish.
		want = active
	case job.Spec.Completions == nil:
		want = *job.Spec.Parallelism
	default:
		want = max(0, min(*job.Spec.Completions-st.succeeded, *job.Spec.Parallelism))
	}
	if doomed := removalCandidates(job, st.active, int(max(0, active-want))); len(doomed) > 0 {
		if len(doomed) > maxPodChanges {
			doomed = doomed[:maxPodChanges]
		}
		return c.scaleDown(ctx, st, doomed)
	}

	var terminating int32
	if replacesOnlyFailed(job) {
		terminating = st.terminating // they still hold their place
	}
	missing := want - terminating - active
	if missing <= 0 {
		return active, nil
	}
	if !hasBackoffLimitPerIndex(job) {
		if wait := st.backoff.remaining(c.clock, c.podBackoff, c.maxPodBackoff); wait > 0 {
			c.enqueue(job, max(wait, batchPeriod))
			return active, nil
		}
	}
	missing = min(missing, maxPodChanges)
	var indexes []int
	if isIndexed(job) {
		indexes = st.pendingIndexes(int(missing))
		if hasBackoffLimitPerIndex(job) {
			var wait time.Duration
			if indexes, wait = c.indexesReadyForPods(st, indexes); len(indexes) == 0 && wait > 0 {
				c.enqueue(job, max(wait, batchPeriod))
				return active, nil
			}
		}
		missing = int32(len(indexes))
	}
	created, err := c.createPods(ctx, st, int(missing), indexes)
	return active + int32(created), err
}

// scaleDown deletes active pods that the Job does not want (suspended,
// too many, repeated indexes). Their finalizer goes first: a pod removed
// this way is neither a success nor a failure.
func (c *Controller) scaleDown(ctx context.Context, st *syncState, pods []*corev1.Pod) (int32, error) {
	c.expectations.Expect(st.key, 0, len(pods))
	var deleted, deletedReady atomic.Int32
	err := controllers.Parallel(len(pods), func(i int) error {
		p := pods[i]
		err := c.removeTrackingFinalizer(ctx, p)
		if err == nil {
			err = c.deletePod(ctx, st.job, p)
		}
		if err != nil {
			// The informer will not see this deletion.
			c.expectations.Observed(st.key, 0, 1)
			if !apierrors.IsNotFound(err) {
				return err
			}
		}
		deleted.Add(1)
		if controllers.IsPodReady(p) {
			deletedReady.Add(1)
		}
		return nil
	})
	st.terminating += deleted.Load()
	st.ready -= deletedReady.Load()
	return int32(len(st.active)) - deleted.Load(), err
}

// deleteActivePods deletes what still runs of an ending Job, keeping
// the finalizers so the pods are counted; it returns how many (and how
// many ready ones) are on their way out.
func (c *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (ready, deleted int32, err error) {
	var n, nReady atomic.Int32
	err = controllers.Parallel(len(pods), func(i int) error {
		p := pods[i]
		if err := c.deletePod(ctx, job, p); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		n.Add(1)
		if controllers.IsPodReady(p) {
			nReady.Add(1)
		}
		return nil
	})
	return nReady.Load(), n.Load(), err
}

func (c *Controller) deletePod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	switch {
	case err == nil:
		c.rec.Eventf(job, pod, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted pod: %v", pod.Name)
	case !apierrors.IsNotFound(err):
		c.rec.Eventf(job, pod, corev1.EventTypeWarning, "FailedDelete", "Delete", "Error deleting: %v", err)
	}
	return err
}

// createPods creates n pods (one per index for Indexed Jobs) in batches
// of 1, 2, 4, ...: when a batch fails (quota, say) the rest is not tried,
// sparing the API server and the event stream. It returns how many were
// created.
func (c *Controller) createPods(ctx context.Context, st *syncState, n int, indexes []int) (int, error) {
	job := st.job
	c.expectations.Expect(st.key, n, 0)
	template := podTemplate(job)
	var created atomic.Int32
	made, errs := controllers.SlowStart(n, func(i int) error {
		ix := noIndex
		if i < len(indexes) {
			ix = indexes[i]
		}
		if err := c.createPod(ctx, st, template, ix); err != nil {
			c.expectations.Observed(st.key, 1, 0) // a failed creation will never be seen
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // nothing can be created there any more
			}
			return err
		}
		created.Add(1)
		return nil
	})
	// The rest is given up on for this sync: expected no more.
	c.expectations.Observed(st.key, n-made, 0)
	return int(created.Load()), errors.Join(errs...)
}

// podTemplate is the Job's pod template with what every pod of the Job
// gets: the tracking finalizer and, for Indexed Jobs, the
// JOB_COMPLETION_INDEX variable.
func podTemplate(job *batchv1.Job) *corev1.PodTemplateSpec {
	t := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		for i := range t.Spec.InitContainers {
			addIndexEnv(&t.Spec.InitContainers[i])
		}
		for i := range t.Spec.Containers {
			addIndexEnv(&t.Spec.Containers[i])
		}
	}
	if !slices.Contains(t.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Finalizers = append(t.Finalizers, batchv1.JobTrackingFinalizer)
	}
	return t
}

func addIndexEnv(c *corev1.Container) {
	for _, e := range c.Env {
		if e.Name == "JOB_COMPLETION_INDEX" {
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['" + batchv1.JobCompletionIndexAnnotation + "']"},
	}})
}

// createPod creates one pod of the Job (for completion index ix, unless
// noIndex) and records the event.
func (c *Controller) createPod(ctx context.Context, st *syncState, t *corev1.PodTemplateSpec, ix int) error {
	job := st.job
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			Finalizers:      slices.Clone(t.Finalizers),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, jobKind)},
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if ix != noIndex {
		pod.GenerateName = indexedPodName(job.Name, ix)
		pod.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
		pod.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
		pod.Spec.Hostname = job.Name + "-" + strconv.Itoa(ix)
		if hasBackoffLimitPerIndex(job) {
			counted, ignored := nextIndexFailureCounts(job, st.delayedByIndex[ix])
			pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(counted))
			if ignored > 0 {
				pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
			}
		}
	}
	created, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.rec.Eventf(job, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating: %v", err)
		}
		return err
	}
	c.rec.Eventf(job, created, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created pod: %v", created.Name)
	return nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// removalCandidates picks at least n active pods to delete. An Indexed
// Job also loses pods without a valid index and all but the best pod of
// a repeated index.
func removalCandidates(job *batchv1.Job, active []*corev1.Pod, n int) []*corev1.Pod {
	var remove, keep []*corev1.Pod
	if isIndexed(job) {
		byIndex := map[int][]*corev1.Pod{}
		for _, p := range active {
			if ix := validIndex(job, p); ix == noIndex {
				remove = append(remove, p)
			} else {
				byIndex[ix] = append(byIndex[ix], p)
			}
		}
		for _, same := range byIndex {
			sortForRemoval(same)
			remove = append(remove, same[:len(same)-1]...)
			keep = append(keep, same[len(same)-1])
		}
	} else {
		keep = slices.Clone(active)
	}
	if len(remove) < n {
		sortForRemoval(keep)
		remove = append(remove, keep[:n-len(remove)]...)
	}
	return remove
}

// pendingIndexes returns up to n indexes, lowest first, that no pod
// holds: not succeeded, not running, not failed for good.
func (st *syncState) pendingIndexes(n int) []int {
	job := st.job
	taken := st.succeededIdx.union(podsIndexes(job, st.active))
	if replacesOnlyFailed(job) {
		taken = taken.union(podsIndexes(job, filterPods(st.pods, controllers.IsPodTerminating)))
	}
	if st.failedIdx != nil {
		taken = taken.union(*st.failedIdx)
	}
	return taken.firstMissing(n, int(*job.Spec.Completions))
}
