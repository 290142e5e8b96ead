// Package deployment rolls Deployments out through ReplicaSets, as
// kube-controller-manager's deployment controller does: one ReplicaSet per
// pod template (named after the template's hash), rolling updates within
// maxSurge and maxUnavailable, Recreate, proportional scaling, pause,
// rollback, revision history and the Progressing and Available
// conditions kubectl rollout reads.
package deployment

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client      kubernetes.Interface
	dInformer   cache.SharedIndexInformer
	dLister     appslisters.DeploymentLister
	rsInformer  cache.SharedIndexInformer
	rsLister    appslisters.ReplicaSetLister
	podInformer cache.SharedIndexInformer
	rsEvents    *controllers.Dependents[*appsv1.Deployment, *appsv1.ReplicaSet]
	recorder    events.EventRecorder
	queue       workqueue.TypedRateLimitingInterface[string]
	now         func() time.Time
	log         *slog.Logger
}

// New returns a Deployment controller on cc's shared informers.
func New(cc *controllers.Context) *Controller {
	d := cc.Informers.Apps().V1().Deployments()
	rs := cc.Informers.Apps().V1().ReplicaSets()
	c := &Controller{
		client:      cc.Client,
		dInformer:   d.Informer(),
		dLister:     d.Lister(),
		rsInformer:  rs.Informer(),
		rsLister:    rs.Lister(),
		podInformer: cc.Informers.Core().V1().Pods().Informer(),
		recorder:    cc.Recorder("deployment-controller"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment"}),
		now: time.Now,
		log: slog.Default().With("component", "deployment-controller"),
	}
	c.rsEvents = &controllers.Dependents[*appsv1.Deployment, *appsv1.ReplicaSet]{
		OwnerKind: controllerKind.Kind,
		GetOwner: func(namespace, name string) (*appsv1.Deployment, error) {
			return c.dLister.Deployments(namespace).Get(name)
		},
		Adopters: c.selecting,
		Enqueue:  func(d *appsv1.Deployment) { controllers.Enqueue(c.queue, d) },
	}
	if err := controllers.IndexByController(c.podInformer); err != nil {
		c.log.Error("cannot index pods by owner", "err", err)
	}
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	dSynced := controllers.Handle(ctx, c.dInformer, controllers.EnqueueHandler(c.queue))
	rsSynced := controllers.Handle(ctx, c.rsInformer, c.rsEvents.Handler())
	podSynced := controllers.Handle(ctx, c.podInformer, cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.deletePod,
	})
	if !cache.WaitForCacheSync(ctx.Done(), dSynced, rsSynced, podSynced) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 5, c.sync, c.log)
}

// selecting lists the Deployments whose selector matches an orphan
// ReplicaSet: any of them may adopt it.
func (c *Controller) selecting(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	if len(rs.Labels) == 0 {
		return nil
	}
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// deletePod wakes a Recreate Deployment waiting for its old pods to go.
func (c *Controller) deletePod(obj any) {
	pod, ok := controllers.FromTombstone[*corev1.Pod](obj)
	if !ok {
		return
	}
	rs, ok := controllers.ResolveControllerRef(pod.Namespace, metav1.GetControllerOfNoCopy(pod), "ReplicaSet",
		func(namespace, name string) (*appsv1.ReplicaSet, error) {
			return c.rsLister.ReplicaSets(namespace).Get(name)
		})
	if !ok {
		return
	}
	if d, ok := c.rsEvents.Owner(rs.Namespace, metav1.GetControllerOfNoCopy(rs)); ok && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		controllers.Enqueue(c.queue, d)
	}
}
