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
	expectations *controllers.Expectations
	podEvents    *controllers.Dependents[*appsv1.ReplicaSet, *corev1.Pod]
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
		expectations: controllers.NewExpectations(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "replicaset"}),
		now: time.Now,
		log: slog.Default().With("component", "replicaset-controller"),
	}
	c.podEvents = &controllers.Dependents[*appsv1.ReplicaSet, *corev1.Pod]{
		OwnerKind: controllerKind.Kind,
		GetOwner: func(namespace, name string) (*appsv1.ReplicaSet, error) {
			return c.rsLister.ReplicaSets(namespace).Get(name)
		},
		Adopters: func(pod *corev1.Pod) []*appsv1.ReplicaSet {
			rss, _ := c.rsLister.GetPodReplicaSets(pod) // an error means none
			return rss
		},
		Enqueue: func(rs *appsv1.ReplicaSet) { controllers.Enqueue(c.queue, rs) },
		Created: func(rs *appsv1.ReplicaSet, _ *corev1.Pod) { c.expectations.Observed(rsKey(rs), 1, 0) },
		Gone: func(rs *appsv1.ReplicaSet, pod *corev1.Pod) {
			c.expectations.DeletionObserved(rsKey(rs), controllers.PodKey(pod))
		},
		Changed: func(rs *appsv1.ReplicaSet, old, cur *corev1.Pod) {
			if controllers.BecameReady(old, cur) && rs.Spec.MinReadySeconds > 0 {
				// Look again when the pod has been ready long enough to
				// count as available.
				c.queue.AddAfter(rsKey(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second)
			}
		},
		DeletingIsGone: true,
	}
	if err := controllers.IndexByController(c.podInformer); err != nil {
		c.log.Error("cannot index pods by owner", "err", err)
	}
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	rsSynced := controllers.Handle(ctx, c.rsInformer, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: c.updateRS,
		DeleteFunc: c.deleteRS,
	})
	pods := c.podEvents.Handler()
	pods.UpdateFunc = c.updatePod
	podSynced := controllers.Handle(ctx, c.podInformer, pods)
	if !cache.WaitForCacheSync(ctx.Done(), rsSynced, podSynced) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 5, c.sync, c.log)
}

func rsKey(rs *appsv1.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

func (c *Controller) updateRS(oldObj, newObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
	if old.UID != cur.UID {
		// Deleted and recreated under the same name between two watch
		// events: what the old one awaited no longer matters.
		c.deleteRS(cache.DeletedFinalStateUnknown{Key: rsKey(old), Obj: old})
	}
	controllers.Enqueue(c.queue, cur)
}

func (c *Controller) deleteRS(obj any) {
	rs, ok := controllers.FromTombstone[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	key := rsKey(rs)
	c.expectations.Forget(key)
	c.queue.Add(key)
}

// updatePod is the pod handler's update, plus upstream's rule for a pod
// whose deletion began in the same update that changed its labels: its
// former state counts as gone too, for the ReplicaSet that controlled it
// then (which may await its deletion).
func (c *Controller) updatePod(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	c.podEvents.Updated(old, cur)
	if cur.DeletionTimestamp != nil && old.ResourceVersion != cur.ResourceVersion && !reflect.DeepEqual(old.Labels, cur.Labels) {
		c.podEvents.Deleted(old)
	}
}
