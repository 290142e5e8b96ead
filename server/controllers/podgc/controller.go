// Package podgc deletes pods nobody else will, as kube-controller-manager's
// pod garbage collector does: pods bound to nodes that no longer exist,
// terminating pods on out-of-service nodes, terminating pods that were
// never scheduled, and the oldest terminated pods beyond a threshold.
package podgc

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// Upstream's defaults: --terminated-pod-gc-threshold and the quarantine
// before pods of a missing node are deleted.
const (
	DefaultTerminatedThreshold = 12500
	DefaultQuarantine          = 40 * time.Second
)

// Controller is the pod garbage collector.
type Controller struct {
	// Quarantine is how long a node must be missing from the informer
	// before a live read confirms it gone and its pods are deleted.
	Quarantine time.Duration
	// TerminatedThreshold is how many terminated (Succeeded or Failed)
	// pods may exist; 0 or less turns their collection off.
	TerminatedThreshold int

	client    kubernetes.Interface
	pods      corelisters.PodLister
	podIndex  cache.Indexer // pods, with controllers.NodeNameIndex
	nodes     corelisters.NodeLister
	informers []cache.SharedIndexInformer // pods, nodes
	queue     workqueue.TypedRateLimitingInterface[work]
	now       func() time.Time
	log       *slog.Logger

	mu           sync.Mutex
	missingSince map[string]time.Time // node name -> first seen missing
}

// work is one thing to look at.
type work struct {
	kind workKind
	name string // node name, or namespace/name of a pod
}

type workKind int

const (
	terminatedPods workKind = iota // the terminated pods over the threshold
	nodePods                       // the pods of one node (missing or out of service)
	unscheduledPod                 // a terminating pod bound to no node
)

// New returns a pod garbage collector with upstream's settings; change the
// exported fields before Run to use other values.
func New(cc *controllers.Context) *Controller {
	podInf := cc.Informers.Core().V1().Pods()
	nodeInf := cc.Informers.Core().V1().Nodes()
	// Without the index, pods are found by a scan of the cache.
	_ = controllers.IndexPodsByNode(podInf.Informer())
	return &Controller{
		Quarantine:          DefaultQuarantine,
		TerminatedThreshold: DefaultTerminatedThreshold,
		client:              cc.Client,
		pods:                podInf.Lister(),
		podIndex:            podInf.Informer().GetIndexer(),
		nodes:               nodeInf.Lister(),
		informers:           []cache.SharedIndexInformer{podInf.Informer(), nodeInf.Informer()},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[work](),
			workqueue.TypedRateLimitingQueueConfig[work]{Name: "pod_garbage_collector"}),
		now:          time.Now,
		log:          slog.Default().With("component", "pod-garbage-collector"),
		missingSince: map[string]time.Time{},
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers[0], cache.ResourceEventHandlerFuncs{
			AddFunc:    c.podChanged,
			UpdateFunc: func(_, obj any) { c.podChanged(obj) },
		}),
		controllers.Handle(ctx, c.informers[1], cache.ResourceEventHandlerFuncs{
			AddFunc:    c.nodeChanged,
			UpdateFunc: func(_, obj any) { c.nodeChanged(obj) },
			DeleteFunc: c.nodeDeleted,
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 2, c.sync, c.log)
}

func (c *Controller) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if c.TerminatedThreshold > 0 && isTerminated(pod) {
		c.queue.Add(work{kind: terminatedPods})
	}
	switch {
	case pod.Spec.NodeName == "" && pod.DeletionTimestamp != nil:
		if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
			c.queue.Add(work{kind: unscheduledPod, name: key})
		}
	case pod.Spec.NodeName != "":
		if _, err := c.nodes.Get(pod.Spec.NodeName); err != nil || pod.DeletionTimestamp != nil {
			c.queue.Add(work{kind: nodePods, name: pod.Spec.NodeName})
		}
	}
}

func (c *Controller) nodeChanged(obj any) {
	if node, ok := obj.(*corev1.Node); ok && outOfService(node) {
		c.queue.Add(work{kind: nodePods, name: node.Name})
	}
}

func (c *Controller) nodeDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if node, ok := obj.(*corev1.Node); ok {
		c.queue.Add(work{kind: nodePods, name: node.Name})
	}
}

func (c *Controller) sync(ctx context.Context, w work) error {
	switch w.kind {
	case terminatedPods:
		return c.collectTerminated(ctx)
	case nodePods:
		return c.collectNode(ctx, w.name)
	case unscheduledPod:
		return c.collectUnscheduled(ctx, w.name)
	}
	return nil
}
