// Package ingressstatus publishes where kite's built-in ingress proxy
// answers: every Ingress it serves gets the addresses of the usable nodes
// (the proxy runs on all of them) as status.loadBalancer.ingress, which
// `kubectl get ingress` shows as ADDRESS, as k3s with Traefik does. An
// Ingress that moves to another class loses the addresses this controller
// wrote; Ingresses of other classes are never written.
package ingressstatus

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"kite/ingress"
	"kite/server/controllers"
)

const (
	// ControllerName names the controller in logs and managedFields.
	ControllerName = "ingress-status-controller"
	// workers sync Ingresses in parallel: a node change rewrites all.
	workers = 2
)

// Controller is the Ingress status controller.
type Controller struct {
	client    kubernetes.Interface
	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	nodes     corelisters.NodeLister
	informers struct{ ingresses, classes, nodes cache.SharedIndexInformer }
	queue     workqueue.TypedRateLimitingInterface[string] // Ingress keys
	log       *slog.Logger
}

// New returns an Ingress status controller.
func New(cc *controllers.Context) *Controller {
	networking := cc.Informers.Networking().V1()
	core := cc.Informers.Core().V1()
	c := &Controller{
		client:    cc.Client,
		ingresses: networking.Ingresses().Lister(),
		classes:   networking.IngressClasses().Lister(),
		nodes:     core.Nodes().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress_status"}),
		log: slog.Default().With("component", ControllerName),
	}
	c.informers.ingresses = networking.Ingresses().Informer()
	c.informers.classes = networking.IngressClasses().Informer()
	c.informers.nodes = core.Nodes().Informer()
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		// A deleted Ingress needs nothing written, so deletes are not
		// handled; every Ingress of the initial list is queued once, to
		// catch up with what changed while no controller ran.
		controllers.Handle(ctx, c.informers.ingresses, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*networkingv1.Ingress)
				n, ok2 := cur.(*networkingv1.Ingress)
				if ok1 && ok2 && c.ingressChanged(o, n) {
					controllers.Enqueue(c.queue, n)
				}
			},
		}),
		controllers.Handle(ctx, c.informers.classes, cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(obj any, initial bool) {
				if class, ok := obj.(*networkingv1.IngressClass); ok && !initial && ingress.IsDefaultClass(class) {
					c.enqueueClassless()
				}
			},
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*networkingv1.IngressClass)
				n, ok2 := cur.(*networkingv1.IngressClass)
				if ok1 && ok2 && ingress.IsDefaultClass(o) != ingress.IsDefaultClass(n) {
					c.enqueueClassless()
				}
			},
			DeleteFunc: func(obj any) {
				if class, ok := controllers.FromTombstone[*networkingv1.IngressClass](obj); ok && ingress.IsDefaultClass(class) {
					c.enqueueClassless()
				}
			},
		}),
		controllers.Handle(ctx, c.informers.nodes, cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(_ any, initial bool) {
				if !initial {
					c.enqueueServed()
				}
			},
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*corev1.Node)
				n, ok2 := cur.(*corev1.Node)
				if ok1 && ok2 && nodeChanged(o, n) {
					c.enqueueServed()
				}
			},
			DeleteFunc: func(any) { c.enqueueServed() },
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, workers, c.sync, c.log)
}

// ingressChanged tells whether an update needs a sync: the class may have
// moved, or the addresses of an Ingress kite serves were overwritten.
// Status writes to other classes' Ingresses are theirs and ignored.
func (c *Controller) ingressChanged(old, cur *networkingv1.Ingress) bool {
	if classChanged(old, cur) {
		return true
	}
	return ingress.ServedByKite(cur, c.kiteIsDefault()) &&
		!loadBalancerEqual(old.Status.LoadBalancer.Ingress, cur.Status.LoadBalancer.Ingress)
}

// kiteIsDefault tells whether IngressClass kite is the cluster default.
func (c *Controller) kiteIsDefault() bool {
	class, err := c.classes.Get(ingress.ClassName)
	return err == nil && ingress.IsDefaultClass(class)
}

// enqueueClassless queues the Ingresses naming no class: they follow
// the default flag of IngressClass kite.
func (c *Controller) enqueueClassless() {
	c.enqueueIf(func(ing *networkingv1.Ingress) bool { return !namesClass(ing) })
}

// enqueueServed queues the Ingresses kite serves: their addresses follow
// the nodes.
func (c *Controller) enqueueServed() {
	isDefault := c.kiteIsDefault()
	c.enqueueIf(func(ing *networkingv1.Ingress) bool { return ingress.ServedByKite(ing, isDefault) })
}

func (c *Controller) enqueueIf(match func(*networkingv1.Ingress) bool) {
	list, err := c.ingresses.List(labels.Everything())
	if err != nil {
		return // a cache lister does not fail
	}
	for _, ing := range list {
		if match(ing) {
			controllers.Enqueue(c.queue, ing)
		}
	}
}
