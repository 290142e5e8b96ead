// Package servicelb is kite's ServiceLB, the built-in load balancer of
// k3s ("klipper-lb") without its pods: a LoadBalancer Service that names
// no loadBalancerClass gets the addresses of the nodes as its
// status.loadBalancer.ingress, and the service proxy on every node routes
// traffic for those addresses to the Service's endpoints. This controller
// only chooses and writes the addresses; it also keeps two Services from
// claiming one port on one node address, which the proxy could route to
// only one of them.
package servicelb

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

const (
	// ControllerName reports this controller's Events.
	ControllerName = "service-lb-controller"
	// workers is kube-controller-manager's --concurrent-service-syncs.
	workers = 1
)

// Controller is the ServiceLB controller.
type Controller struct {
	client    kubernetes.Interface
	recorder  events.EventRecorder
	services  corelisters.ServiceLister
	nodes     corelisters.NodeLister
	slices    discoverylisters.EndpointSliceLister
	informers struct{ services, nodes, slices cache.SharedIndexInformer }
	queue     workqueue.TypedRateLimitingInterface[string] // Service keys
	log       *slog.Logger

	// reservedTCP are node ports of the built-in ingress (80, 443), which
	// no LoadBalancer Service may take.
	reservedTCP []int32

	mu sync.Mutex
	// reported is, per Service key, the port conflict last told in an
	// Event, so that a conflict is reported when it starts or changes and
	// not at every sync.
	reported map[string]string
}

// New returns a ServiceLB controller. reservedTCP are TCP ports something
// else answers on at every node address (the built-in ingress's 80 and
// 443): a LoadBalancer Service asking for one stays Pending, as in k3s,
// where Traefik's own LoadBalancer holds them.
func New(cc *controllers.Context, reservedTCP ...int32) *Controller {
	core := cc.Informers.Core().V1()
	eps := cc.Informers.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:   cc.Client,
		recorder: cc.Recorder(ControllerName),
		services: core.Services().Lister(),
		nodes:    core.Nodes().Lister(),
		slices:   eps.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "service_lb"}),
		log:         slog.Default().With("component", ControllerName),
		reported:    map[string]string{},
		reservedTCP: reservedTCP,
	}
	c.informers.services = core.Services().Informer()
	c.informers.nodes = core.Nodes().Informer()
	c.informers.slices = eps.Informer()
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.services, cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: c.serviceAdded,
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*corev1.Service)
				n, ok2 := cur.(*corev1.Service)
				if ok1 && ok2 {
					c.serviceUpdated(o, n)
				}
			},
			DeleteFunc: c.serviceDeleted,
		}),
		controllers.Handle(ctx, c.informers.nodes, cache.ResourceEventHandlerDetailedFuncs{
			// The Services of the initial list are all queued anyway.
			AddFunc: func(_ any, initial bool) {
				if !initial {
					c.enqueueBalanced()
				}
			},
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*corev1.Node)
				n, ok2 := cur.(*corev1.Node)
				if ok1 && ok2 && nodeChanged(o, n) {
					c.enqueueBalanced()
				}
			},
			DeleteFunc: func(any) { c.enqueueBalanced() },
		}),
		controllers.Handle(ctx, c.informers.slices, cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(obj any, initial bool) {
				if s, ok := obj.(*discovery.EndpointSlice); ok && !initial {
					c.sliceChanged(nil, s)
				}
			},
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*discovery.EndpointSlice)
				n, ok2 := cur.(*discovery.EndpointSlice)
				if ok1 && ok2 {
					c.sliceChanged(o, n)
				}
			},
			DeleteFunc: func(obj any) {
				if s, ok := controllers.FromTombstone[*discovery.EndpointSlice](obj); ok {
					c.sliceChanged(s, nil)
				}
			},
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, workers, c.sync, c.log)
}

// balanced tells whether svc is this controller's: a LoadBalancer that
// names no class (a class belongs to another implementation).
func balanced(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

// serviceAdded queues svc and, when it is new and balanced, every other
// balanced Service: one created in the same second as an older one may
// sort first and take its ports. (Every Service of the informer's initial
// list is queued by its own add.)
func (c *Controller) serviceAdded(obj any, initial bool) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	c.queue.Add(key(svc))
	if !initial && balanced(svc) {
		c.enqueueBalanced()
	}
}

// serviceUpdated queues cur, and every balanced Service when the change
// can move ports between Services.
func (c *Controller) serviceUpdated(old, cur *corev1.Service) {
	c.queue.Add(key(cur))
	if (balanced(old) || balanced(cur)) && claimChanged(old, cur) {
		c.enqueueBalanced()
	}
}

// serviceDeleted frees the deleted Service's ports for the others.
func (c *Controller) serviceDeleted(obj any) {
	svc, ok := controllers.FromTombstone[*corev1.Service](obj)
	if !ok {
		return
	}
	c.queue.Add(key(svc))
	if balanced(svc) {
		c.enqueueBalanced()
	}
}

// enqueueBalanced queues every balanced Service.
func (c *Controller) enqueueBalanced() {
	list, err := c.services.List(labels.Everything())
	if err != nil {
		return // a cache lister does not fail
	}
	for _, svc := range list {
		if balanced(svc) {
			c.queue.Add(key(svc))
		}
	}
}

// sliceChanged queues every balanced Service when the nodes with ready
// endpoints of a Local-traffic balanced Service change: its addresses, and
// so the ports others may get, move with them. old or cur is nil for an
// added or deleted slice.
func (c *Controller) sliceChanged(old, cur *discovery.EndpointSlice) {
	slice := cur
	if slice == nil {
		slice = old
	}
	name := slice.Labels[discovery.LabelServiceName]
	if name == "" {
		return
	}
	svc, err := c.services.Services(slice.Namespace).Get(name)
	if err != nil || !balanced(svc) || !localOnly(svc) {
		return
	}
	if old != nil && cur != nil && maps.Equal(readyNodes(old), readyNodes(cur)) {
		return
	}
	c.enqueueBalanced()
}

// claimChanged tells whether an update changes what the Service asks for:
// whether it is balanced, its ports, IP families, pool or traffic policy.
func claimChanged(old, cur *corev1.Service) bool {
	if balanced(old) != balanced(cur) || localOnly(old) != localOnly(cur) ||
		!slices.Equal(old.Spec.IPFamilies, cur.Spec.IPFamilies) ||
		old.Labels[LBPoolLabel] != cur.Labels[LBPoolLabel] {
		return true
	}
	return !maps.Equal(portSet(old), portSet(cur))
}

func portSet(svc *corev1.Service) map[portKey]bool {
	out := make(map[portKey]bool, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		out[portKey{p.Port, protocol(p)}] = true
	}
	return out
}
