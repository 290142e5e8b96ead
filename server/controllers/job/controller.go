// Package job runs batch/v1 Jobs as kube-controller-manager's job
// controller does: it creates pods from a Job's template until enough of
// them succeed (or the Job fails), counts every finished pod exactly once
// with the batch.kubernetes.io/job-tracking finalizer, and keeps the Job's
// status and conditions the way kubectl and other clients expect them.
package job

import (
	"context"
	"log/slog"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"kite/server/controllers"
)

const (
	controllerName = "job-controller"
	// batchPeriod gathers the pod events of a burst into one sync.
	batchPeriod = time.Second
	// maxUncounted bounds status.uncountedTerminatedPods (each UID takes
	// about 40 bytes) and the finalizers removed in one sync.
	maxUncounted = 500
	// maxPodChanges bounds the pods created or deleted in one sync.
	maxPodChanges = 500
	workers       = 5
)

var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller is the Job controller.
type Controller struct {
	client                    kubernetes.Interface
	jobs                      batchlisters.JobLister
	pods                      corelisters.PodLister
	jobsInf                   cache.SharedIndexInformer
	podsInf                   cache.SharedIndexInformer
	rec                       events.EventRecorder
	clock                     clock.WithTicker
	queue                     workqueue.TypedRateLimitingInterface[string]
	orphans                   workqueue.TypedRateLimitingInterface[orphanKey]
	log                       *slog.Logger
	podBackoff, maxPodBackoff time.Duration

	expectations *controllers.Expectations
	finalizers   *finalizerExpectations
	backoff      *backoffStore
	// finishing holds the UIDs of Jobs this controller marked finished
	// whose update the informer has not shown yet.
	finishing sync.Map
}

// Option changes how the controller works; tests use them.
type Option func(*Controller)

// WithClock makes the controller read time from clk.
func WithClock(clk clock.WithTicker) Option { return func(c *Controller) { c.clock = clk } }

// WithPodFailureBackoff replaces upstream's delay before replacing failed
// pods (10 s, doubling per failure, at most 10 min).
func WithPodFailureBackoff(base, limit time.Duration) Option {
	return func(c *Controller) { c.podBackoff, c.maxPodBackoff = base, limit }
}

// New returns a Job controller using cc's shared informers.
func New(cc *controllers.Context, opts ...Option) *Controller {
	jobs := cc.Informers.Batch().V1().Jobs()
	pods := cc.Informers.Core().V1().Pods()
	c := &Controller{
		client:        cc.Client,
		jobs:          jobs.Lister(),
		pods:          pods.Lister(),
		jobsInf:       jobs.Informer(),
		podsInf:       pods.Informer(),
		rec:           cc.Recorder(controllerName),
		clock:         clock.RealClock{},
		log:           slog.Default().With("component", controllerName),
		podBackoff:    defaultPodFailureBackoff,
		maxPodBackoff: maxPodFailureBackoff,
		expectations:  controllers.NewExpectations(),
		finalizers:    newFinalizerExpectations(),
		backoff:       newBackoffStore(),
	}
	for _, o := range opts {
		o(c)
	}
	// Upstream retries failed Job syncs after 1 s, doubling up to 1 min.
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: c.clock})
	c.orphans = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[orphanKey](time.Second, time.Minute),
		workqueue.TypedRateLimitingQueueConfig[orphanKey]{Name: "job_orphan_pod", Clock: c.clock})
	if err := controllers.IndexByController(c.podsInf); err != nil {
		c.log.Error("cannot index pods by controller", "err", err)
	}
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	jobsSynced := controllers.Handle(ctx, c.jobsInf, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueue(obj, 0) },
		UpdateFunc: c.jobUpdated,
		DeleteFunc: c.jobDeleted,
	})
	podsSynced := controllers.Handle(ctx, c.podsInf, cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podAdded,
		UpdateFunc: c.podUpdated,
		DeleteFunc: func(obj any) { c.podDeleted(obj, true) },
	})
	if !cache.WaitForCacheSync(ctx.Done(), jobsSynced, podsSynced) {
		return
	}
	go controllers.RunWorkers(ctx, c.orphans, workers, c.syncOrphans, c.log)
	controllers.RunWorkers(ctx, c.queue, workers, c.sync, c.log)
}

func jobKey(job *batchv1.Job) string { return job.Namespace + "/" + job.Name }

// enqueue queues the Job's key after delay.
func (c *Controller) enqueue(obj any, delay time.Duration) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.AddAfter(key, delay)
}

func (c *Controller) jobUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*batchv1.Job), newObj.(*batchv1.Job)
	if isFinished(cur) {
		// Pods that still carry the finalizer after the Job finished are
		// released by the orphan worker.
		c.orphans.Add(selectorKey(cur))
		c.finishing.Delete(cur.UID)
		c.backoff.forget(jobKey(cur))
		return
	}
	if cur.Generation != old.Generation {
		c.enqueue(cur, 0) // the user changed the spec: act now
	} else {
		c.enqueue(cur, batchPeriod)
	}
	// A changed deadline needs a sync when it passes.
	if cur.Status.StartTime != nil && cur.Spec.ActiveDeadlineSeconds != nil &&
		(old.Spec.ActiveDeadlineSeconds == nil || *old.Spec.ActiveDeadlineSeconds != *cur.Spec.ActiveDeadlineSeconds) {
		deadline := time.Duration(*cur.Spec.ActiveDeadlineSeconds) * time.Second
		c.queue.AddAfter(jobKey(cur), deadline-c.clock.Since(cur.Status.StartTime.Time))
	}
}

func (c *Controller) jobDeleted(obj any) {
	c.enqueue(obj, 0)
	job, ok := controllers.FromTombstone[*batchv1.Job](obj)
	if !ok {
		return
	}
	c.finishing.Delete(job.UID)
	c.orphans.Add(selectorKey(job))
	key := jobKey(job)
	c.expectations.Forget(key)
	c.backoff.forget(key)
}

// owningJob returns the Job that ref points at, if it is in the cache.
func (c *Controller) owningJob(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	job, _ := controllers.ResolveControllerRef(namespace, ref, jobKind.Kind,
		func(namespace, name string) (*batchv1.Job, error) { return c.jobs.Jobs(namespace).Get(name) })
	return job
}

// jobsSelecting returns the Jobs whose selector matches an orphan pod's
// labels, so they can adopt it.
func (c *Controller) jobsSelecting(pod *corev1.Pod) []*batchv1.Job {
	jobs, err := c.jobs.GetPodJobs(pod)
	if err != nil {
		return nil
	}
	out := make([]*batchv1.Job, 0, len(jobs))
	for i := range jobs {
		out = append(out, &jobs[i])
	}
	return out
}

func (c *Controller) podAdded(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (a restart): not
		// the creation any Job waits for.
		c.podDeleted(pod, false)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if job := c.owningJob(pod.Namespace, ref); job != nil {
			c.expectations.Observed(jobKey(job), 1, 0)
			c.enqueue(job, batchPeriod)
		}
		return
	}
	if hasTrackingFinalizer(pod) {
		c.orphans.Add(podKey(pod))
	}
	for _, job := range c.jobsSelecting(pod) {
		c.enqueue(job, batchPeriod)
	}
}

func (c *Controller) podUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if cur.ResourceVersion == old.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		// Graceful deletion began: replace the pod now rather than when
		// it is finally gone.
		c.podDeleted(cur, false)
		return
	}
	released := !hasTrackingFinalizer(cur)
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !refsEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if job := c.owningJob(old.Namespace, oldRef); job != nil {
			if released {
				c.finalizers.observedRemoved(jobKey(job), cur.UID)
			}
			c.enqueue(job, batchPeriod)
		}
	}
	if curRef != nil {
		if job := c.owningJob(cur.Namespace, curRef); job != nil {
			if released {
				c.finalizers.observedRemoved(jobKey(job), cur.UID)
			}
			c.enqueue(job, batchPeriod)
		}
		return
	}
	if hasTrackingFinalizer(cur) {
		c.orphans.Add(podKey(cur))
	}
	if refChanged || !mapsEqual(cur.Labels, old.Labels) {
		for _, job := range c.jobsSelecting(cur) {
			c.enqueue(job, batchPeriod)
		}
	}
}

// podDeleted handles a pod that is gone (final) or being deleted.
func (c *Controller) podDeleted(obj any, final bool) {
	pod, ok := controllers.FromTombstone[*corev1.Pod](obj)
	if !ok {
		return
	}
	job := c.owningJob(pod.Namespace, metav1.GetControllerOf(pod))
	if job == nil || isFinished(job) {
		// No running Job will release its finalizer.
		if hasTrackingFinalizer(pod) {
			c.orphans.Add(podKey(pod))
		}
		return
	}
	key := jobKey(job)
	c.expectations.Observed(key, 0, 1)
	if final || !hasTrackingFinalizer(pod) {
		c.finalizers.observedRemoved(key, pod.UID)
	}
	c.enqueue(job, batchPeriod)
}

func refsEqual(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID && a.Kind == b.Kind && a.Name == b.Name && a.APIVersion == b.APIVersion
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
