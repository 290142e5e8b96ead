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
	"reflect"
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
	if err := addPodOwnerIndex(c.podInformer); err != nil {
		c.log.Error("cannot index pods by owner", "err", err)
	}
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	dSynced := controllers.Handle(ctx, c.dInformer, cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	rsSynced := controllers.Handle(ctx, c.rsInformer, cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	podSynced := controllers.Handle(ctx, c.podInformer, cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.deletePod,
	})
	if !cache.WaitForCacheSync(ctx.Done(), dSynced, rsSynced, podSynced) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 5, c.sync, c.log)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// owner returns the Deployment ref names, if it still exists with that UID.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
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

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.owner(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.selecting(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(oldObj, newObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if d := c.owner(old.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.owner(cur.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(old.Labels, cur.Labels) {
		for _, d := range c.selecting(cur) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if rs, ok = tomb.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	if d := c.owner(rs.Namespace, metav1.GetControllerOf(rs)); d != nil {
		c.enqueue(d)
	}
}

// deletePod wakes a Recreate Deployment waiting for its old pods to go.
func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.owner(rs.Namespace, metav1.GetControllerOf(rs)); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}
