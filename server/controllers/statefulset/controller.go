// Package statefulset runs StatefulSets as kube-controller-manager's
// statefulset controller does: pods with stable names <set>-<ordinal>,
// PVCs from claim templates, ordered or parallel scaling, rolling and
// on-delete updates recorded in ControllerRevisions.
package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
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
	log      *slog.Logger
	now      func() time.Time
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
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.sets, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: func(_, obj any) { c.enqueue(obj) },
			DeleteFunc: c.enqueue,
		}),
		controllers.Handle(ctx, c.informers.pods, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.podAdded,
			UpdateFunc: c.podUpdated,
			DeleteFunc: c.podDeleted,
		}),
		c.informers.claims.HasSynced,
		c.informers.revisions.HasSynced,
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 5, c.sync, c.log)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueSet(set *appsv1.StatefulSet) {
	c.queue.Add(set.Namespace + "/" + set.Name)
}

// owner resolves a controller reference to the StatefulSet it names, if
// that set still exists with that UID.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	set, err := c.sets.StatefulSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// setsSelecting returns the sets whose selector matches pod (candidates to
// adopt an orphan).
func (c *Controller) setsSelecting(pod *corev1.Pod) []*appsv1.StatefulSet {
	sets, err := c.sets.GetPodStatefulSets(pod)
	if err != nil {
		return nil
	}
	return sets
}

func (c *Controller) podAdded(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.podDeleted(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set := c.owner(pod.Namespace, ref); set != nil {
			c.enqueueSet(set)
		}
		return
	}
	for _, set := range c.setsSelecting(pod) {
		c.enqueueSet(set)
	}
}

func (c *Controller) podUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if set := c.owner(old.Namespace, oldRef); set != nil {
			c.enqueueSet(set)
		}
	}
	if curRef != nil {
		set := c.owner(cur.Namespace, curRef)
		if set == nil {
			return
		}
		c.enqueueSet(set)
		if !isReady(old) && isReady(cur) && set.Spec.MinReadySeconds > 0 {
			// Look again when the pod has been ready long enough to count
			// as available.
			c.queue.AddAfter(set.Namespace+"/"+set.Name, time.Duration(set.Spec.MinReadySeconds)*time.Second)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(old.Labels, cur.Labels) {
		for _, set := range c.setsSelecting(cur) {
			c.enqueueSet(set)
		}
	}
}

func (c *Controller) podDeleted(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tombstone, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tombstone.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	if set := c.owner(pod.Namespace, metav1.GetControllerOfNoCopy(pod)); set != nil {
		c.enqueueSet(set)
	}
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
		wait := nextAvailabilityCheck(pods, set.Spec.MinReadySeconds, now)
		if wait == 0 {
			wait = time.Duration(set.Spec.MinReadySeconds) * time.Second
		}
		c.queue.AddAfter(key, wait)
	}
	return nil
}

// recheckSet reads set from the API server: adoption must not happen for
// a set that is being deleted or was replaced by another of its name.
func (c *Controller) recheckSet(ctx context.Context, set *appsv1.StatefulSet) error {
	fresh, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if fresh.UID != set.UID {
		return fmt.Errorf("original StatefulSet %s/%s is gone: got uid %s, wanted %s", set.Namespace, set.Name, fresh.UID, set.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%s/%s has just been deleted at %v", set.Namespace, set.Name, fresh.DeletionTimestamp)
	}
	return nil
}
