// Package cronjob starts Jobs on a cron schedule as
// kube-controller-manager's cronjob controller (v2) does: one Job per
// schedule time, named after it, within startingDeadlineSeconds, under the
// concurrency policy, keeping a bounded history of finished Jobs.
package cronjob

import (
	"context"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
)

const (
	controllerName = "cronjob-controller"
	workers        = 5
)

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller is the CronJob controller.
type Controller struct {
	client      kubernetes.Interface
	cronJobs    batchlisters.CronJobLister
	cronJobsInf cache.SharedIndexInformer
	jobsInf     cache.SharedIndexInformer
	rec         events.EventRecorder
	clock       clock.WithTicker
	queue       workqueue.TypedRateLimitingInterface[string]
	log         *slog.Logger
}

// Option changes how the controller works; tests use them.
type Option func(*Controller)

// WithClock makes the controller read time from clk, and wait on it for
// schedule times (a fake clock lets tests skip to the next minute).
func WithClock(clk clock.WithTicker) Option { return func(c *Controller) { c.clock = clk } }

// New returns a CronJob controller using cc's shared informers.
func New(cc *controllers.Context, opts ...Option) *Controller {
	cronJobs := cc.Informers.Batch().V1().CronJobs()
	jobs := cc.Informers.Batch().V1().Jobs()
	c := &Controller{
		client:      cc.Client,
		cronJobs:    cronJobs.Lister(),
		cronJobsInf: cronJobs.Informer(),
		jobsInf:     jobs.Informer(),
		rec:         cc.Recorder(controllerName),
		clock:       clock.RealClock{},
		log:         slog.Default().With("component", controllerName),
	}
	for _, o := range opts {
		o(c)
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: c.clock})
	if err := controllers.IndexByController(c.jobsInf); err != nil {
		c.log.Error("cannot index jobs by controller", "err", err)
	}
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	cronJobsSynced := controllers.Handle(ctx, c.cronJobsInf, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: c.cronJobUpdated,
		DeleteFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
	})
	jobsSynced := controllers.Handle(ctx, c.jobsInf, cache.ResourceEventHandlerFuncs{
		AddFunc: c.jobChanged,
		UpdateFunc: func(oldObj, newObj any) {
			old, cur := oldObj.(*batchv1.Job), newObj.(*batchv1.Job)
			if old.ResourceVersion == cur.ResourceVersion {
				return
			}
			if oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur); oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
				c.jobChanged(old) // its former owner lost it
			}
			c.jobChanged(cur)
		},
		DeleteFunc: c.jobChanged,
	})
	if !cache.WaitForCacheSync(ctx.Done(), cronJobsSynced, jobsSynced) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, workers, c.sync, c.log)
}

// cronJobUpdated: a changed schedule or time zone moves the next sync to
// the new next time; any other change is looked at now.
func (c *Controller) cronJobUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*batchv1.CronJob), newObj.(*batchv1.CronJob)
	if old.Spec.Schedule == cur.Spec.Schedule && ptr.Equal(old.Spec.TimeZone, cur.Spec.TimeZone) {
		controllers.Enqueue(c.queue, cur)
		return
	}
	sched, err := parseSchedule(scheduleLine(cur))
	if err != nil {
		c.rec.Eventf(cur, nil, corev1.EventTypeWarning, "UnParseableCronJobSchedule", "Schedule", "unparseable schedule for cronjob: %s", cur.Spec.Schedule)
		return
	}
	c.queue.AddAfter(cur.Namespace+"/"+cur.Name, untilNext(cur, c.clock.Now(), sched))
}

// jobChanged wakes the CronJob that controls a Job.
func (c *Controller) jobChanged(obj any) {
	job, ok := controllers.FromTombstone[*batchv1.Job](obj)
	if !ok {
		return
	}
	cj, ok := controllers.ResolveControllerRef(job.Namespace, metav1.GetControllerOfNoCopy(job), cronJobKind.Kind,
		func(namespace, name string) (*batchv1.CronJob, error) {
			return c.cronJobs.CronJobs(namespace).Get(name)
		})
	if ok {
		controllers.Enqueue(c.queue, cj)
	}
}

// jobsOf returns the cached Jobs the CronJob controls.
func (c *Controller) jobsOf(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	return controllers.ControlledBy[*batchv1.Job](c.jobsInf.GetIndexer(), cj.Namespace, cj.UID)
}

// retryIn returns d as a RetryAfter for the worker loop.
func retryIn(d time.Duration) error { return controllers.RetryAfter(d) }
