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
	queue         workqueue.TypedRateLimitingInterface[string]
	expectations  *controllers.Expectations
	podEvents     *controllers.Dependents[*appsv1.DaemonSet, *corev1.Pod]
	historyEvents *controllers.Dependents[*appsv1.DaemonSet, *appsv1.ControllerRevision]
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
		expectations:  controllers.NewExpectations(),
		failedBackoff: flowcontrol.NewBackOff(time.Second, 15*time.Minute),
		recorder:      cc.Recorder("daemonset-controller"),
		log:           slog.Default().With("component", "daemonset-controller"),
		now:           time.Now,
	}
	c.informers.sets = cc.Informers.Apps().V1().DaemonSets().Informer()
	c.informers.pods = cc.Informers.Core().V1().Pods().Informer()
	c.informers.nodes = cc.Informers.Core().V1().Nodes().Informer()
	c.informers.revisions = cc.Informers.Apps().V1().ControllerRevisions().Informer()
	getSet := func(namespace, name string) (*appsv1.DaemonSet, error) { return c.sets.DaemonSets(namespace).Get(name) }
	enqueue := func(ds *appsv1.DaemonSet) { controllers.Enqueue(c.queue, ds) }
	c.podEvents = &controllers.Dependents[*appsv1.DaemonSet, *corev1.Pod]{
		OwnerKind: controllerKind.Kind,
		GetOwner:  getSet,
		Adopters: func(pod *corev1.Pod) []*appsv1.DaemonSet {
			sets, _ := c.sets.GetPodDaemonSets(pod) // an error means none
			return sets
		},
		Enqueue: enqueue,
		Created: func(ds *appsv1.DaemonSet, _ *corev1.Pod) { c.expectations.Observed(setKey(ds), 1, 0) },
		Gone:    func(ds *appsv1.DaemonSet, _ *corev1.Pod) { c.expectations.Observed(setKey(ds), 0, 1) },
		Changed: func(ds *appsv1.DaemonSet, old, cur *corev1.Pod) {
			if controllers.BecameReady(old, cur) && ds.Spec.MinReadySeconds > 0 {
				// Available after minReadySeconds, with a second of slack.
				c.queue.AddAfter(setKey(ds), time.Duration(ds.Spec.MinReadySeconds+1)*time.Second)
			}
		},
		// A pod being deleted gracefully counts as deleted: the set may
		// replace it now rather than when the kubelet is done.
		DeletingIsGone: true,
	}
	c.historyEvents = &controllers.Dependents[*appsv1.DaemonSet, *appsv1.ControllerRevision]{
		OwnerKind: controllerKind.Kind,
		GetOwner:  getSet,
		Adopters: func(r *appsv1.ControllerRevision) []*appsv1.DaemonSet {
			sets, _ := c.sets.GetHistoryDaemonSets(r) // an error means none
			return sets
		},
		Enqueue: enqueue,
	}
	return c
}

func setKey(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	sets := controllers.EnqueueHandler(c.queue)
	sets.DeleteFunc = c.setDeleted
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.sets, sets),
		controllers.Handle(ctx, c.informers.pods, c.podEvents.Handler()),
		controllers.Handle(ctx, c.informers.nodes, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueAll() },
			UpdateFunc: c.nodeUpdated,
			DeleteFunc: func(any) { c.enqueueAll() },
		}),
		controllers.Handle(ctx, c.informers.revisions, c.historyEvents.Handler()),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	// Forget the backoff of nodes whose pods stopped failing.
	go wait.Until(c.failedBackoff.GC, time.Minute, ctx.Done())
	controllers.RunWorkers(ctx, c.queue, 2, c.sync, c.log)
}

func (c *Controller) enqueueAll() {
	sets, err := c.sets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		controllers.Enqueue(c.queue, ds)
	}
}

func (c *Controller) setDeleted(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.expectations.Forget(key)
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

// sync brings one DaemonSet a step closer to its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.sets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
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
	if !c.expectations.Satisfied(key) {
		// Earlier creates or deletes are not in the cache yet: only
		// report, and do not claim to have seen this generation.
		return c.updateStatus(ctx, ds, nodes, hash, false)
	}
	err = c.manage(ctx, ds, nodes, hash)
	if err == nil && c.expectations.Satisfied(key) {
		if ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			err = c.rollingUpdate(ctx, ds, nodes, hash)
		}
	}
	if err == nil {
		err = c.cleanupHistory(ctx, ds, old)
	}
	return errors.Join(err, c.updateStatus(ctx, ds, nodes, hash, true))
}
