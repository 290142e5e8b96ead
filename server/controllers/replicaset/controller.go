// Package replicaset keeps the pods of every ReplicaSet at its desired
// count, as kube-controller-manager's replicaset controller does: it adopts
// and releases pods by selector, creates and deletes pods (never more than
// needed while its cache lags) and reports the ReplicaSet's status.
package replicaset

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
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// burstReplicas caps the pods created or deleted in one sync.
const burstReplicas = 500

var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller is the ReplicaSet controller.
type Controller struct {
	client       kubernetes.Interface
	rsInformer   cache.SharedIndexInformer
	rsLister     appslisters.ReplicaSetLister
	podInformer  cache.SharedIndexInformer
	podLister    corelisters.PodLister
	recorder     events.EventRecorder
	expectations *expectations
	queue        workqueue.TypedRateLimitingInterface[string]
	now          func() time.Time
	log          *slog.Logger
}

// New returns a ReplicaSet controller on cc's shared informers.
func New(cc *controllers.Context) *Controller {
	rs := cc.Informers.Apps().V1().ReplicaSets()
	pods := cc.Informers.Core().V1().Pods()
	c := &Controller{
		client:       cc.Client,
		rsInformer:   rs.Informer(),
		rsLister:     rs.Lister(),
		podInformer:  pods.Informer(),
		podLister:    pods.Lister(),
		recorder:     cc.Recorder("replicaset-controller"),
		expectations: newExpectations(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "replicaset"}),
		now: time.Now,
		log: slog.Default().With("component", "replicaset-controller"),
	}
	if err := addPodOwnerIndex(c.podInformer); err != nil {
		c.log.Error("cannot index pods by owner", "err", err)
	}
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	rsSynced := controllers.Handle(ctx, c.rsInformer, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueue(obj) },
		UpdateFunc: c.updateRS,
		DeleteFunc: c.deleteRS,
	})
	podSynced := controllers.Handle(ctx, c.podInformer, cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	if !cache.WaitForCacheSync(ctx.Done(), rsSynced, podSynced) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 5, c.sync, c.log)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) updateRS(oldObj, newObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
	if old.UID != cur.UID {
		// Deleted and recreated under the same name between two watch
		// events: what the old one awaited no longer matters.
		c.deleteRS(cache.DeletedFinalStateUnknown{Key: old.Namespace + "/" + old.Name, Obj: old})
	}
	c.enqueue(cur)
}

func (c *Controller) deleteRS(obj any) {
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
	key := rs.Namespace + "/" + rs.Name
	c.expectations.forget(key)
	c.queue.Add(key)
}

// owner returns the ReplicaSet that ref names, if it still exists with
// that UID.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// selecting lists the ReplicaSets whose selector matches an orphan pod:
// any of them may adopt it.
func (c *Controller) selecting(pod *corev1.Pod) []*appsv1.ReplicaSet {
	if len(pod.Labels) == 0 {
		return nil
	}
	all, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already terminating (after a relist):
		// for the owner it is as good as gone.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if rs := c.owner(pod.Namespace, ref); rs != nil {
			key := rs.Namespace + "/" + rs.Name
			c.expectations.creationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	for _, rs := range c.selecting(pod) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := c.owner(old.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.owner(cur.Namespace, curRef)
		if rs == nil {
			return
		}
		c.enqueue(rs)
		if !isReady(old) && isReady(cur) && rs.Spec.MinReadySeconds > 0 {
			// Look again when the pod has been ready long enough to
			// count as available.
			c.queue.AddAfter(rs.Namespace+"/"+rs.Name, time.Duration(rs.Spec.MinReadySeconds)*time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.selecting(cur) {
			c.enqueue(rs)
		}
	}
}

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
	rs := c.owner(pod.Namespace, metav1.GetControllerOf(pod))
	if rs == nil {
		return
	}
	key := rs.Namespace + "/" + rs.Name
	c.expectations.deletionObserved(key, podKey(pod))
	c.queue.Add(key)
}
