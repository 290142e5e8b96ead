// Package ttlafterfinished deletes finished Jobs once their
// spec.ttlSecondsAfterFinished has passed, as kube-controller-manager's
// TTL-after-finished controller does: with foreground propagation, so the
// Job goes only after its pods.
package ttlafterfinished

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"kite/server/controllers"
)

const (
	controllerName = "ttl-after-finished-controller"
	workers        = 5
)

// Controller is the TTL-after-finished controller.
type Controller struct {
	client  kubernetes.Interface
	jobs    batchlisters.JobLister
	jobsInf cache.SharedIndexInformer
	clock   clock.WithTicker
	queue   workqueue.TypedRateLimitingInterface[string]
	log     *slog.Logger
}

// Option changes how the controller works; tests use them.
type Option func(*Controller)

// WithClock makes the controller read time from clk and wait on it.
func WithClock(clk clock.WithTicker) Option { return func(c *Controller) { c.clock = clk } }

// New returns the controller, using cc's shared Job informer.
func New(cc *controllers.Context, opts ...Option) *Controller {
	jobs := cc.Informers.Batch().V1().Jobs()
	c := &Controller{
		client:  cc.Client,
		jobs:    jobs.Lister(),
		jobsInf: jobs.Informer(),
		clock:   clock.RealClock{},
		log:     slog.Default().With("component", controllerName),
	}
	for _, o := range opts {
		o(c)
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "ttl_jobs_to_delete", Clock: c.clock})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	enqueue := func(obj any) {
		if job, ok := obj.(*batchv1.Job); ok && job.DeletionTimestamp == nil && hasTTL(job) {
			c.queue.Add(job.Namespace + "/" + job.Name)
		}
	}
	synced := controllers.Handle(ctx, c.jobsInf, cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	if !cache.WaitForCacheSync(ctx.Done(), synced) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, workers, c.sync, c.log)
}

// sync deletes the Job if its TTL has expired, or asks to look again
// when it will.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(job); !expired {
		return err
	}
	// The cache may be behind a change of the TTL or a restart of the
	// Job: decide on the stored object.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(fresh); !expired {
		return err
	}
	foreground := metav1.DeletePropagationForeground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &foreground,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by a new Job of that name
	}
	if err == nil {
		c.log.Info("deleted finished job", "job", key)
	}
	return err
}

// expired tells whether the Job is due for deletion; when it will be
// later, the error asks for a look then.
func (c *Controller) expired(job *batchv1.Job) (bool, error) {
	if job.DeletionTimestamp != nil || !hasTTL(job) {
		return false, nil
	}
	finished, err := finishTime(job)
	if err != nil {
		return false, err
	}
	expiry := finished.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if left := expiry.Sub(c.clock.Now()); left > 0 {
		return false, controllers.RetryAfter(left)
	}
	return true, nil
}

// hasTTL: the Job is finished and wants to be deleted some time after.
func hasTTL(job *batchv1.Job) bool {
	_, err := finishTime(job)
	return job.Spec.TTLSecondsAfterFinished != nil && !errors.Is(err, errNotFinished)
}

var errNotFinished = errors.New("job is not finished")

// finishTime is when the Job got its Complete or Failed condition.
func finishTime(job *batchv1.Job) (time.Time, error) {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			if c.LastTransitionTime.IsZero() {
				return time.Time{}, fmt.Errorf("unable to find the time when the Job %s/%s finished", job.Namespace, job.Name)
			}
			return c.LastTransitionTime.Time, nil
		}
	}
	return time.Time{}, errNotFinished
}
