// Package statefulset runs StatefulSets as kube-controller-manager's
// statefulset controller does: pods with stable names <set>-<ordinal>,
// PVCs from claim templates, ordered or parallel scaling, rolling and
// on-delete updates recorded in ControllerRevisions.
package statefulset

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

var (
	controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	podKind        = corev1.SchemeGroupVersion.WithKind("Pod")
)

// Controller is the StatefulSet controller.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      corelisters.PodLister
	claims    corelisters.PersistentVolumeClaimLister
	revisions appslisters.ControllerRevisionLister
	informers struct {
		sets, pods, claims, revisions cache.SharedIndexInformer
	}
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder events.EventRecorder
	written  *writeLog
	// podEvents wakes the set controlling a pod, or those that may adopt it.
	podEvents *controllers.Dependents[*appsv1.StatefulSet, *corev1.Pod]
	log       *slog.Logger
	now       func() time.Time
}

// New returns a StatefulSet controller using cc's informers.
func New(cc *controllers.Context) *Controller {
	c := &Controller{
		client:    cc.Client,
		sets:      cc.Informers.Apps().V1().StatefulSets().Lister(),
		pods:      cc.Informers.Core().V1().Pods().Lister(),
		claims:    cc.Informers.Core().V1().PersistentVolumeClaims().Lister(),
		revisions: cc.Informers.Apps().V1().ControllerRevisions().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"}),
		recorder: cc.Recorder("statefulset-controller"),
		log:      slog.Default().With("component", "statefulset-controller"),
		now:      time.Now,
	}
	c.informers.sets = cc.Informers.Apps().V1().StatefulSets().Informer()
	c.informers.pods = cc.Informers.Core().V1().Pods().Informer()
	c.informers.claims = cc.Informers.Core().V1().PersistentVolumeClaims().Informer()
	c.informers.revisions = cc.Informers.Apps().V1().ControllerRevisions().Informer()
	c.written = newWriteLog(map[string]cache.Store{
		resourcePods:      c.informers.pods.GetStore(),
		resourceClaims:    c.informers.claims.GetStore(),
		resourceSets:      c.informers.sets.GetStore(),
		resourceRevisions: c.informers.revisions.GetStore(),
	})
	c.podEvents = &controllers.Dependents[*appsv1.StatefulSet, *corev1.Pod]{
		OwnerKind: controllerKind.Kind,
		GetOwner: func(namespace, name string) (*appsv1.StatefulSet, error) {
			return c.sets.StatefulSets(namespace).Get(name)
		},
		Adopters: func(pod *corev1.Pod) []*appsv1.StatefulSet {
			sets, _ := c.sets.GetPodStatefulSets(pod) // an error means none
			return sets
		},
		Enqueue: c.enqueueSet,
		Changed: func(set *appsv1.StatefulSet, old, cur *corev1.Pod) {
			if controllers.BecameReady(old, cur) && set.Spec.MinReadySeconds > 0 {
				// Look again when the pod has been ready long enough to
				// count as available.
				c.queue.AddAfter(set.Namespace+"/"+set.Name, time.Duration(set.Spec.MinReadySeconds)*time.Second)
			}
		},
	}
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.sets, controllers.EnqueueHandler(c.queue)),
		controllers.Handle(ctx, c.informers.pods, c.podEvents.Handler()),
		c.informers.claims.HasSynced,
		c.informers.revisions.HasSynced,
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 5, c.sync, c.log)
}

func (c *Controller) enqueueSet(set *appsv1.StatefulSet) {
	c.queue.Add(set.Namespace + "/" + set.Name)
}

// sync brings one StatefulSet a step closer to its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	nn := types.NamespacedName{Namespace: namespace, Name: name}
	set, err := c.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.written.forget(nn)
		return nil
	}
	if err != nil {
		return err
	}
	if !c.written.caughtUp(nn) {
		// Our last writes are still on their way to the informers, whose
		// events requeue the set; look again shortly in case they did
		// already.
		return controllers.RetryAfter(100 * time.Millisecond)
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		// A bad selector stays bad until the set changes.
		c.log.Warn("invalid selector", "statefulset", key, "err", err)
		return nil
	}
	if err := c.adoptOrphanRevisions(ctx, set, selector); err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	now := c.now()
	status, err := c.reconcile(ctx, set, pods, selector, now)
	if err != nil {
		return err
	}
	if set.Spec.MinReadySeconds > 0 && status != nil && status.ReadyReplicas != status.AvailableReplicas {
		// Ready pods become available with time alone: no event will say so.
		wait, ok := controllers.UntilAvailable(pods, set.Spec.MinReadySeconds, now)
		if !ok {
			wait = time.Duration(set.Spec.MinReadySeconds) * time.Second
		}
		c.queue.AddAfter(key, wait)
	}
	return nil
}
