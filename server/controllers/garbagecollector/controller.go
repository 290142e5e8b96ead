package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// Controller is the garbage collector.
type Controller struct {
	client    metadata.Interface
	resources []Resource
	byKind    map[schema.GroupKind]Resource
	factory   metadatainformer.SharedInformerFactory
	graph     *graph
	queue     workqueue.TypedRateLimitingInterface[types.UID]
	log       *slog.Logger
}

// New returns a collector over the given resources.
// Its metadata informers are its own: no other controller needs every
// resource.
func New(cc *controllers.Context, resources []Resource) *Controller {
	c := &Controller{
		client:    cc.Metadata,
		resources: resources,
		byKind:    map[schema.GroupKind]Resource{},
		factory:   metadatainformer.NewSharedInformerFactory(cc.Metadata, 0),
		graph:     newGraph(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbagecollector"}),
		log: slog.Default().With("component", "garbagecollector"),
	}
	for _, r := range resources {
		c.byKind[schema.GroupKind{Group: r.GVR.Group, Kind: r.Kind}] = r
		res := r
		inf := c.factory.ForResource(r.GVR).Informer()
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.observe(res, obj) },
			UpdateFunc: func(_, obj any) { c.observe(res, obj) },
			DeleteFunc: func(obj any) { c.forget(obj) },
		})
	}
	return c
}

// Run collects until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	c.factory.Start(ctx.Done())
	c.factory.WaitForCacheSync(ctx.Done())
	controllers.RunWorkers(ctx, c.queue, 4, c.process, c.log)
}

func metaOf(obj any) (*metav1.PartialObjectMetadata, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	return m, ok
}

// observe records an added or changed object and queues what it affects.
func (c *Controller) observe(res Resource, obj any) {
	m, ok := metaOf(obj)
	if !ok {
		return
	}
	n := &node{res: res, namespace: m.Namespace, name: m.Name, owners: m.OwnerReferences,
		finalizers: m.Finalizers, deleting: m.DeletionTimestamp != nil}
	old := c.graph.upsert(m.UID, n)
	if n.deleting && (n.hasFinalizer(metav1.FinalizerOrphanDependents) || n.hasFinalizer(metav1.FinalizerDeleteDependents)) {
		c.queue.Add(m.UID)
	}
	if len(n.owners) > 0 && (old == nil || len(old.owners) != len(n.owners)) {
		// The owners may be gone already (or never existed); check once
		// the informers have had a moment to see them.
		c.queue.AddAfter(m.UID, time.Second)
	}
	c.queueWaitingOwners(n)
}

// forget drops a deleted object and queues its dependents, which may now
// be orphans, and owners waiting in foreground deletion.
func (c *Controller) forget(obj any) {
	m, ok := metaOf(obj)
	if !ok {
		return
	}
	old := c.graph.remove(m.UID)
	for _, d := range c.graph.dependentsOf(m.UID) {
		c.queue.Add(d)
	}
	if old != nil {
		c.queueWaitingOwners(old)
	}
}

// queueWaitingOwners queues the owners of n that wait for their
// dependents to go (foreground deletion).
func (c *Controller) queueWaitingOwners(n *node) {
	for _, o := range n.owners {
		if owner, ok := c.graph.get(o.UID); ok && owner.deleting && owner.hasFinalizer(metav1.FinalizerDeleteDependents) {
			c.queue.Add(o.UID)
		}
	}
}

// process moves one object a step: an owner being deleted orphans or
// deletes its dependents, and a dependent whose owners are all gone is
// deleted.
func (c *Controller) process(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.get(uid)
	if !ok {
		return nil
	}
	if n.deleting && n.hasFinalizer(metav1.FinalizerOrphanDependents) {
		return c.orphanDependents(ctx, uid, n)
	}
	if n.deleting && n.hasFinalizer(metav1.FinalizerDeleteDependents) {
		return c.deleteDependents(ctx, uid, n)
	}
	if len(n.owners) == 0 || n.deleting {
		return nil
	}
	for _, o := range n.owners {
		gone, err := c.ownerGone(ctx, n, o)
		if err != nil || !gone {
			return err
		}
	}
	// Every owner is gone: collect it, letting its own dependents follow
	// in the background.
	c.log.Info("deleting an object whose owners are gone", "resource", n.res.GVR.Resource, "namespace", n.namespace, "name", n.name)
	return c.delete(ctx, uid, n, metav1.DeletePropagationBackground)
}

// ownerGone checks, against the API rather than the informers, that an
// owner does not exist (or is another object of the same name). Anything
// uncertain counts as present: the collector never deletes on a guess.
func (c *Controller) ownerGone(ctx context.Context, dep node, ref metav1.OwnerReference) (bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false, nil
	}
	res, ok := c.byKind[schema.GroupKind{Group: gv.Group, Kind: ref.Kind}]
	if !ok {
		return false, nil
	}
	ns := ""
	if res.Namespaced {
		ns = dep.namespace
	}
	owner, err := c.client.Resource(res.GVR).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, err
	}
	return owner.UID != ref.UID, nil
}

func (c *Controller) delete(ctx context.Context, uid types.UID, n node, policy metav1.DeletionPropagation) error {
	err := c.client.Resource(n.res.GVR).Namespace(n.namespace).Delete(ctx, n.name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // already gone, or another object has the name now
	}
	return err
}

// orphanDependents removes the owner from its dependents' ownerReferences,
// then its orphan finalizer, which lets the owner go.
func (c *Controller) orphanDependents(ctx context.Context, uid types.UID, owner node) error {
	for _, d := range c.graph.dependentsOf(uid) {
		dep, ok := c.graph.get(d)
		if !ok {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, uid, d)
		_, err := c.client.Resource(dep.res.GVR).Namespace(dep.namespace).Patch(ctx, dep.name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("orphaning %s %s/%s: %w", dep.res.GVR.Resource, dep.namespace, dep.name, err)
		}
	}
	return c.removeFinalizer(ctx, uid, owner, metav1.FinalizerOrphanDependents)
}

// deleteDependents deletes the dependents of an owner in foreground
// deletion and, once none is left, removes its finalizer.
func (c *Controller) deleteDependents(ctx context.Context, uid types.UID, owner node) error {
	deps := c.graph.dependentsOf(uid)
	if len(deps) == 0 {
		return c.removeFinalizer(ctx, uid, owner, metav1.FinalizerDeleteDependents)
	}
	for _, d := range deps {
		dep, ok := c.graph.get(d)
		if !ok || dep.deleting {
			continue
		}
		if err := c.delete(ctx, d, dep, metav1.DeletePropagationForeground); err != nil {
			return err
		}
	}
	return nil // the dependents' deletions queue the owner again
}

// removeFinalizer drops one finalizer with a strategic-merge directive,
// which leaves any other finalizer alone even if it was added meanwhile,
// guarded by the object's UID.
func (c *Controller) removeFinalizer(ctx context.Context, uid types.UID, n node, finalizer string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{finalizer},
		"uid":                                 uid,
	}})
	if err != nil {
		return err
	}
	_, err = c.client.Resource(n.res.GVR).Namespace(n.namespace).Patch(ctx, n.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
