// Package resourcequota keeps each ResourceQuota's status current, as
// kube-controller-manager's resource quota controller does: status.hard
// mirrors spec.hard and status.used sums what the namespace's objects use
// of each resource the quota names, within the quota's scopes. Enforcing
// quotas on create is admission's job, in the API server.
package resourcequota

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// DefaultResyncPeriod is upstream's --resource-quota-sync-period: every
// quota is recalculated this often whatever happened.
const DefaultResyncPeriod = 5 * time.Minute

// Controller is the resource quota controller.
type Controller struct {
	// ResyncPeriod is how often every quota is recalculated in full.
	ResyncPeriod time.Duration

	client    kubernetes.Interface
	quotas    corelisters.ResourceQuotaLister
	pods      corelisters.PodLister
	services  corelisters.ServiceLister
	pvcs      corelisters.PersistentVolumeClaimLister
	informers []cache.SharedIndexInformer // quotas, pods, services, claims
	counters  *counters
	queue     workqueue.TypedRateLimitingInterface[string]
	now       func() time.Time
	log       *slog.Logger
}

// New returns a resource quota controller.
func New(cc *controllers.Context) *Controller {
	quotaInf := cc.Informers.Core().V1().ResourceQuotas()
	podInf := cc.Informers.Core().V1().Pods()
	svcInf := cc.Informers.Core().V1().Services()
	pvcInf := cc.Informers.Core().V1().PersistentVolumeClaims()
	c := &Controller{
		ResyncPeriod: DefaultResyncPeriod,
		client:       cc.Client,
		quotas:       quotaInf.Lister(),
		pods:         podInf.Lister(),
		services:     svcInf.Lister(),
		pvcs:         pvcInf.Lister(),
		informers:    []cache.SharedIndexInformer{quotaInf.Informer(), podInf.Informer(), svcInf.Informer(), pvcInf.Informer()},
		counters:     newCounters(cc.Client.Discovery(), cc.Metadata),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota"}),
		now: time.Now,
		log: slog.Default().With("component", "resourcequota-controller"),
	}
	c.counters.changed = c.enqueueTracking
	c.counters.synced = func(gr schema.GroupResource) { c.enqueueTracking("", gr) }
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	c.counters.start(ctx)
	quotaInf, podInf, svcInf, pvcInf := c.informers[0], c.informers[1], c.informers[2], c.informers[3]
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, quotaInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueQuota,
			UpdateFunc: c.quotaUpdated,
		}),
		controllers.Handle(ctx, podInf, c.replenish(podsGR, podUsageChanged)),
		controllers.Handle(ctx, svcInf, c.replenish(servicesGR, func(old, cur any) bool {
			return !equalLists(serviceUsage(old.(*corev1.Service)), serviceUsage(cur.(*corev1.Service)))
		})),
		controllers.Handle(ctx, pvcInf, c.replenish(pvcsGR, pvcUsageChanged)),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 2, c.sync, c.log)
}

func (c *Controller) enqueueQuota(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// quotaUpdated recalculates a quota whose limits changed, or whose status
// no longer mirrors them; its own status writes do not come back here.
func (c *Controller) quotaUpdated(oldObj, obj any) {
	old, cur := oldObj.(*corev1.ResourceQuota), obj.(*corev1.ResourceQuota)
	if apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) && equalLists(cur.Spec.Hard, cur.Status.Hard) {
		return
	}
	c.enqueueQuota(cur)
}

// replenish recalculates the quotas that track gr in the namespace of an
// object that came, went, or changed in a way that matters (changed says).
func (c *Controller) replenish(gr schema.GroupResource, changed func(old, cur any) bool) cache.ResourceEventHandler {
	notify := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if ns, err := namespaceOf(obj); err == nil {
			c.enqueueTracking(ns, gr)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: notify,
		UpdateFunc: func(old, cur any) {
			if changed(old, cur) {
				notify(cur)
			}
		},
		DeleteFunc: notify,
	}
}

// enqueueTracking queues the quotas of the namespace (all namespaces for
// "") that name a resource measured by gr's objects.
func (c *Controller) enqueueTracking(namespace string, gr schema.GroupResource) {
	var quotas []*corev1.ResourceQuota
	if namespace == "" {
		quotas, _ = c.quotas.List(labels.Everything())
	} else {
		quotas, _ = c.quotas.ResourceQuotas(namespace).List(labels.Everything())
	}
	for _, q := range quotas {
		for name := range q.Spec.Hard {
			if src, ok := sourceOf(name); ok && src == gr {
				c.enqueueQuota(q)
				break
			}
		}
	}
}

// podUsageChanged: a pod update matters when it may change what the pod
// is charged or which scopes it is in.
func podUsageChanged(oldObj, obj any) bool {
	old, cur := oldObj.(*corev1.Pod), obj.(*corev1.Pod)
	if isTerminatingScope(old) != isTerminatingScope(cur) || podQOS(old) != podQOS(cur) {
		return true
	}
	if (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) || old.Status.Phase != cur.Status.Phase {
		return true
	}
	return !apiequality.Semantic.DeepEqual(old.Status.Resources, cur.Status.Resources) ||
		!containerResourcesEqual(old.Status.ContainerStatuses, cur.Status.ContainerStatuses) ||
		!containerResourcesEqual(old.Status.InitContainerStatuses, cur.Status.InitContainerStatuses)
}

func containerResourcesEqual(a, b []corev1.ContainerStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !apiequality.Semantic.DeepEqual(a[i].Resources, b[i].Resources) || !apiequality.Semantic.DeepEqual(a[i].AllocatedResources, b[i].AllocatedResources) {
			return false
		}
	}
	return true
}

func pvcUsageChanged(oldObj, obj any) bool {
	old, cur := oldObj.(*corev1.PersistentVolumeClaim), obj.(*corev1.PersistentVolumeClaim)
	if !equalLists(pvcUsage(old), pvcUsage(cur)) {
		return true
	}
	return !apiequality.Semantic.DeepEqual(old.Spec.VolumeAttributesClassName, cur.Spec.VolumeAttributesClassName) ||
		!apiequality.Semantic.DeepEqual(old.Status.CurrentVolumeAttributesClassName, cur.Status.CurrentVolumeAttributesClassName) ||
		!apiequality.Semantic.DeepEqual(old.Status.ModifyVolumeStatus, cur.Status.ModifyVolumeStatus)
}
