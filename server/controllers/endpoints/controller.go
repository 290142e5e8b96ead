//lint:file-ignore SA1019 core/v1 Endpoints are deprecated in favour of EndpointSlices, but clients still read them and this controller is what writes them.

// Package endpoints keeps an Endpoints object beside every Service that has
// a selector, listing the ready and not-ready pods it selects, as
// kube-controller-manager's endpoint controller does.
package endpoints

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
	"kite/server/controllers/endpoints/backends"
)

const (
	// ControllerName reports events and marks the Endpoints this
	// controller owns (label endpoints.kubernetes.io/managed-by).
	ControllerName = "endpoint-controller"
	// LabelManagedBy marks Endpoints written by this controller.
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	// workers is kube-controller-manager's --concurrent-endpoint-syncs.
	workers = 5
)

// Controller is the endpoints controller.
type Controller struct {
	client    kubernetes.Interface
	recorder  events.EventRecorder
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	informers struct{ services, pods, endpoints cache.SharedIndexInformer }

	triggers *backends.TriggerTimes
	stale    *staleVersions
	queue    workqueue.TypedRateLimitingInterface[string] // Service keys
	log      *slog.Logger
}

// New returns an endpoints controller.
func New(cc *controllers.Context) *Controller {
	core := cc.Informers.Core().V1()
	c := &Controller{
		client:    cc.Client,
		recorder:  cc.Recorder(ControllerName),
		services:  core.Services().Lister(),
		pods:      core.Pods().Lister(),
		endpoints: core.Endpoints().Lister(),
		triggers:  backends.NewTriggerTimes(),
		stale:     newStaleVersions(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint"}),
		log: slog.Default().With("component", ControllerName),
	}
	c.informers.services = core.Services().Informer()
	c.informers.pods = core.Pods().Informer()
	c.informers.endpoints = core.Endpoints().Informer()
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.services, controllers.EnqueueHandler(c.queue)),
		controllers.Handle(ctx, c.informers.pods, backends.PodHandler(c.services, c.queue.Add)),
		// Someone deleting Endpoints of a Service gets them back.
		controllers.Handle(ctx, c.informers.endpoints, cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) { controllers.Enqueue(c.queue, obj) }}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	c.enqueueExisting()
	controllers.RunWorkers(ctx, c.queue, workers, c.sync, c.log)
}

// enqueueExisting looks once at every Endpoints object, so that those left
// behind by Services deleted while no controller ran are removed.
func (c *Controller) enqueueExisting() {
	list, err := c.endpoints.List(labels.Everything())
	if err != nil {
		return // a cache lister does not fail
	}
	for _, ep := range list {
		// Old leader elections kept their record in Endpoints without a
		// Service; those are not ours to delete.
		if _, ok := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]; ok {
			continue
		}
		c.queue.Add(ep.Namespace + "/" + ep.Name)
	}
}

// managed tells whether ep was written by this controller.
func managed(ep *corev1.Endpoints) bool {
	return ep.Labels[LabelManagedBy] == ControllerName
}
