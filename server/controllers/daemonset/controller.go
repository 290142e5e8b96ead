// Package daemonset runs DaemonSets as kube-controller-manager's
// daemonset controller does: one pod per eligible node, pinned to it by
// node affinity for the scheduler to bind, rolling or on-delete updates
// recorded in ControllerRevisions.
package daemonset

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// burstReplicas bounds the pods one sync creates or deletes.
const burstReplicas = 250

// Controller is the DaemonSet controller.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.DaemonSetLister
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	revisions appslisters.ControllerRevisionLister
	informers struct {
		sets, pods, nodes, revisions cache.SharedIndexInformer
	}
	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *expectations
	// failedBackoff spaces out the deletion of failed pods per node, so a
	// node that keeps rejecting a pod is not hammered.
	failedBackoff *flowcontrol.Backoff
	recorder      events.EventRecorder
	log           *slog.Logger
	now           func() time.Time
}

// New returns a DaemonSet controller using cc's informers.
func New(cc *controllers.Context) *Controller {
	c := &Controller{
		client:    cc.Client,
		sets:      cc.Informers.Apps().V1().DaemonSets().Lister(),
		pods:      cc.Informers.Core().V1().Pods().Lister(),
		nodes:     cc.Informers.Core().V1().Nodes().Lister(),
		revisions: cc.Informers.Apps().V1().ControllerRevisions().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		expectations:  newExpectations(),
		failedBackoff: flowcontrol.NewBackOff(time.Second, 15*time.Minute),
		recorder:      cc.Recorder("daemonset-controller"),
		log:           slog.Default().With("component", "daemonset-controller"),
		now:           time.Now,
	}
	c.informers.sets = cc.Informers.Apps().V1().DaemonSets().Informer()
	c.informers.pods = cc.Informers.Core().V1().Pods().Informer()
	c.informers.nodes = cc.Informers.Core().V1().Nodes().Informer()
	c.informers.revisions = cc.Informers.Apps().V1().ControllerRevisions().Informer()
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.sets, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: func(_, obj any) { c.enqueue(obj) },
			DeleteFunc: c.setDeleted,
		}),
		controllers.Handle(ctx, c.informers.pods, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.podAdded,
			UpdateFunc: c.podUpdated,
			DeleteFunc: c.podDeleted,
		}),
		controllers.Handle(ctx, c.informers.nodes, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueAll() },
			UpdateFunc: c.nodeUpdated,
			DeleteFunc: func(any) { c.enqueueAll() },
		}),
		controllers.Handle(ctx, c.informers.revisions, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.revisionChanged,
			UpdateFunc: func(_, obj any) { c.revisionChanged(obj) },
			DeleteFunc: c.revisionChanged,
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	// Forget the backoff of nodes whose pods stopped failing.
	go wait.Until(c.failedBackoff.GC, time.Minute, ctx.Done())
	controllers.RunWorkers(ctx, c.queue, 2, c.sync, c.log)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAll() {
	sets, err := c.sets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		c.enqueue(ds)
	}
}

func (c *Controller) setDeleted(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.expectations.forget(key)
		c.queue.Add(key)
	}
}

// nodeUpdated looks again at every set when what decides placement
// (labels, taints) changed.
func (c *Controller) nodeUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Node), newObj.(*corev1.Node)
	if apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) && apiequality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
		return
	}
	c.enqueueAll()
}

// owner resolves a controller reference to the DaemonSet it names.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	ds, err := c.sets.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

func (c *Controller) setsSelecting(pod *corev1.Pod) []*appsv1.DaemonSet {
	sets, err := c.sets.GetPodDaemonSets(pod)
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
		if ds := c.owner(pod.Namespace, ref); ds != nil {
			key := ds.Namespace + "/" + ds.Name
			c.expectations.observed(key, 1, 0)
			c.queue.Add(key)
		}
		return
	}
	for _, ds := range c.setsSelecting(pod) {
		c.enqueue(ds)
	}
}

func (c *Controller) podUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		// A pod being deleted gracefully counts as deleted: the set may
		// replace it now rather than when the kubelet is done.
		c.podDeleted(cur)
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if ds := c.owner(old.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.owner(cur.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		if !podReady(old) && podReady(cur) && ds.Spec.MinReadySeconds > 0 {
			// Available after minReadySeconds, with a second of slack.
			c.queue.AddAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds+1)*time.Second)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(old.Labels, cur.Labels) {
		for _, ds := range c.setsSelecting(cur) {
			c.enqueue(ds)
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
	ds := c.owner(pod.Namespace, metav1.GetControllerOfNoCopy(pod))
	if ds == nil {
		return
	}
	key := ds.Namespace + "/" + ds.Name
	c.expectations.observed(key, 0, 1)
	c.queue.Add(key)
}

// revisionChanged wakes the set controlling a revision, or the sets that
// may adopt an orphan one.
func (c *Controller) revisionChanged(obj any) {
	r, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		tombstone, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if r, ok = tombstone.Obj.(*appsv1.ControllerRevision); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOfNoCopy(r); ref != nil {
		if ds := c.owner(r.Namespace, ref); ds != nil {
			c.enqueue(ds)
		}
		return
	}
	if sets, err := c.sets.GetHistoryDaemonSets(r); err == nil {
		for _, ds := range sets {
			c.enqueue(ds)
		}
	}
}

// sync brings one DaemonSet a step closer to its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.sets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if reflect.DeepEqual(ds.Spec.Selector, &metav1.LabelSelector{}) {
		c.recorder.Eventf(ds, nil, corev1.EventTypeWarning, "SelectingAll", "Sync",
			"This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		// Its pods and revisions are the garbage collector's now; the
		// status cannot be computed reliably.
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	cur, old, err := c.constructHistory(ctx, ds)
	if err != nil {
		return err
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if !c.expectations.satisfied(key) {
		// Earlier creates or deletes are not in the cache yet: only
		// report, and do not claim to have seen this generation.
		return c.updateStatus(ctx, ds, nodes, hash, false)
	}
	err = c.manage(ctx, ds, nodes, hash)
	if err == nil && c.expectations.satisfied(key) {
		if ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			err = c.rollingUpdate(ctx, ds, nodes, hash)
		}
	}
	if err == nil {
		err = c.cleanupHistory(ctx, ds, old)
	}
	return errors.Join(err, c.updateStatus(ctx, ds, nodes, hash, true))
}
