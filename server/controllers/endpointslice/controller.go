// Package endpointslice keeps the EndpointSlices of every Service that has
// a selector, as kube-controller-manager's endpointslice controller does:
// slices of at most 100 endpoints per address type and port set, changed
// as little as possible when pods come, go or change.
package endpointslice

import (
	"context"
	"log/slog"
	"time"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
	"kite/server/controllers/endpoints/backends"
)

const (
	// ManagedBy is the value of endpointslice.kubernetes.io/managed-by on
	// the slices this controller maintains.
	ManagedBy = "endpointslice-controller.k8s.io"
	// reporter is the controller name on this controller's events.
	reporter = "endpoint-slice-controller"
	// maxEndpointsPerSlice is kube-controller-manager's default
	// --max-endpoints-per-slice.
	maxEndpointsPerSlice = 100
	// workers is kube-controller-manager's --concurrent-service-endpoint-syncs.
	workers = 5
	// sliceChangeDelay batches the syncs that changes made to slices by
	// others cause.
	sliceChangeDelay = time.Second
	// staleRetry is how soon a sync that found the cache behind its own
	// writes looks again.
	staleRetry = 500 * time.Millisecond
)

// Controller is the endpointslice controller.
type Controller struct {
	client    kubernetes.Interface
	recorder  events.EventRecorder
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	slices    discoverylisters.EndpointSliceLister
	informers struct{ services, pods, nodes, slices cache.SharedIndexInformer }

	tracker  *tracker
	triggers *backends.TriggerTimes
	queue    workqueue.TypedRateLimitingInterface[string] // Service keys
	log      *slog.Logger
}

// New returns an endpointslice controller.
func New(cc *controllers.Context) *Controller {
	core := cc.Informers.Core().V1()
	eps := cc.Informers.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:   cc.Client,
		recorder: cc.Recorder(reporter),
		services: core.Services().Lister(),
		pods:     core.Pods().Lister(),
		nodes:    core.Nodes().Lister(),
		slices:   eps.Lister(),
		tracker:  newTracker(),
		triggers: backends.NewTriggerTimes(),
		// Failures back off from a second, not milliseconds: one sync can
		// write many slices, and retrying fast only loads the API server.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 1000*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice"}),
		log: slog.Default().With("component", "endpointslice-controller"),
	}
	c.informers.services = core.Services().Informer()
	c.informers.pods = core.Pods().Informer()
	c.informers.nodes = core.Nodes().Informer()
	c.informers.slices = eps.Informer()
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.services, controllers.EnqueueHandler(c.queue)),
		controllers.Handle(ctx, c.informers.pods, backends.PodHandler(c.services, c.queue.Add)),
		controllers.Handle(ctx, c.informers.slices, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.sliceAdded,
			UpdateFunc: c.sliceUpdated,
			DeleteFunc: c.sliceDeleted,
		}),
		// Nodes are only read (for zones), never watched for changes.
		c.informers.nodes.HasSynced,
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, workers, c.sync, c.log)
}

// resync looks at the slice's Service again after a short delay.
func (c *Controller) resync(s *discovery.EndpointSlice) {
	if name := s.Labels[discovery.LabelServiceName]; name != "" {
		c.queue.AddAfter(s.Namespace+"/"+name, sliceChangeDelay)
	}
}

// sliceAdded reacts to slices this controller did not write itself.
func (c *Controller) sliceAdded(obj any) {
	if s, ok := obj.(*discovery.EndpointSlice); ok && managed(s) && c.tracker.changedByOthers(s) {
		c.resync(s)
	}
}

// sliceUpdated reacts to others changing this controller's slices, and to
// slices moving between Services or in or out of this controller's care.
func (c *Controller) sliceUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*discovery.EndpointSlice)
	cur, ok2 := newObj.(*discovery.EndpointSlice)
	if !ok1 || !ok2 {
		return
	}
	if old.Labels[discovery.LabelServiceName] != cur.Labels[discovery.LabelServiceName] {
		c.resync(old)
		c.resync(cur)
		return
	}
	if managed(old) != managed(cur) || (managed(cur) && c.tracker.changedByOthers(cur)) {
		c.resync(cur)
	}
}

// sliceDeleted brings back slices somebody else deleted.
func (c *Controller) sliceDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(*discovery.EndpointSlice)
	if ok && managed(s) && c.tracker.tracked(s) && !c.tracker.gone(s) {
		c.resync(s)
	}
}
