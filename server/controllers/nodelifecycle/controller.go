// Package nodelifecycle judges node health from the kubelets' heartbeats
// and acts on it as kube-controller-manager's node lifecycle controller
// ("node-controller") does: silent nodes get Unknown conditions, nodes get
// taints that mirror their conditions and cordon, pods of failed nodes are
// marked not Ready. Its companion TaintEviction deletes pods from nodes
// with NoExecute taints they do not tolerate ("taint-eviction-controller").
package nodelifecycle

import (
	"context"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// Upstream's defaults (--node-monitor-grace-period, --node-startup-grace-period).
const (
	DefaultMonitorGracePeriod = 40 * time.Second
	DefaultStartupGracePeriod = 60 * time.Second
)

// Controller is the node lifecycle controller.
type Controller struct {
	// MonitorGracePeriod is how long a node may go without a heartbeat
	// (Lease renewal or Ready condition update) before it is Unknown.
	MonitorGracePeriod time.Duration
	// StartupGracePeriod replaces it for nodes that never posted a Ready
	// condition.
	StartupGracePeriod time.Duration
	// Limits pace NoExecute tainting (and so evictions) per zone.
	Limits EvictionLimits

	client    kubernetes.Interface
	nodes     corelisters.NodeLister
	leases    coordlisters.LeaseLister
	pods      corelisters.PodLister
	podIndex  cache.Indexer               // pods, with controllers.NodeNameIndex
	informers []cache.SharedIndexInformer // nodes, leases, pods
	recorder  events.EventRecorder
	nodeQueue workqueue.TypedRateLimitingInterface[string]
	podQueue  workqueue.TypedRateLimitingInterface[string]
	health    *healthMap
	zones     *zones
	retryPods sync.Map // node name -> struct{}: marking its pods not Ready failed
	now       func() time.Time
	log       *slog.Logger
}

// New returns a node lifecycle controller with upstream's timing; change
// the exported fields before Run to use other values.
func New(cc *controllers.Context) *Controller {
	nodeInf := cc.Informers.Core().V1().Nodes()
	leaseInf := cc.Informers.Coordination().V1().Leases()
	podInf := cc.Informers.Core().V1().Pods()
	// Without the index, pods are found by a scan of the cache.
	_ = controllers.IndexPodsByNode(podInf.Informer())
	return &Controller{
		MonitorGracePeriod: DefaultMonitorGracePeriod,
		StartupGracePeriod: DefaultStartupGracePeriod,
		Limits:             DefaultEvictionLimits,
		client:             cc.Client,
		nodes:              nodeInf.Lister(),
		leases:             leaseInf.Lister(),
		pods:               podInf.Lister(),
		podIndex:           podInf.Informer().GetIndexer(),
		informers:          []cache.SharedIndexInformer{nodeInf.Informer(), leaseInf.Informer(), podInf.Informer()},
		recorder:           cc.Recorder("node-controller"),
		nodeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node_lifecycle_controller"}),
		podQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node_lifecycle_controller_pods"}),
		health: newHealthMap(),
		now:    time.Now,
		log:    slog.Default().With("component", "node-controller"),
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	c.zones = newZones(c.Limits)
	nodeInf, leaseInf, podInf := c.informers[0], c.informers[1], c.informers[2]
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, nodeInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.enqueueNode(obj) },
			UpdateFunc: func(_, obj any) { c.enqueueNode(obj) },
			DeleteFunc: func(obj any) { c.enqueueNode(obj) },
		}),
		controllers.Handle(ctx, leaseInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.enqueueLease(obj) },
			UpdateFunc: func(_, obj any) { c.enqueueLease(obj) },
		}),
		controllers.Handle(ctx, podInf, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { c.podUpdated(nil, obj) },
			UpdateFunc: func(old, obj any) {
				c.podUpdated(old, obj)
			},
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	go controllers.RunWorkers(ctx, c.podQueue, 2, c.syncPod, c.log)
	controllers.RunWorkers(ctx, c.nodeQueue, 4, c.syncNode, c.log)
}

func (c *Controller) enqueueNode(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if node, ok := obj.(*corev1.Node); ok {
		c.nodeQueue.Add(node.Name)
	}
}

// enqueueLease looks at a node when its Lease is renewed.
func (c *Controller) enqueueLease(obj any) {
	if lease, ok := obj.(*coordinationv1.Lease); ok && lease.Namespace == corev1.NamespaceNodeLease {
		c.nodeQueue.Add(lease.Name)
	}
}

// podUpdated looks at pods newly bound to a node: a pod landing on a node
// that is not Ready is marked not Ready too.
func (c *Controller) podUpdated(oldObj, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if old, ok := oldObj.(*corev1.Pod); ok && old.Spec.NodeName == pod.Spec.NodeName {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(pod)
	if err == nil {
		c.podQueue.Add(key)
	}
}
