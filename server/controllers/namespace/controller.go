// Package namespace empties namespaces that are being deleted and then
// releases them, as kube-controller-manager's namespace controller does.
package namespace

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// Controller is the namespace controller.
type Controller struct {
	client     kubernetes.Interface
	meta       metadata.Interface
	resources  []schema.GroupVersionResource // namespaced resources to empty
	namespaces cache.SharedIndexInformer
	queue      workqueue.TypedRateLimitingInterface[string]
	log        *slog.Logger
}

// New returns a controller that empties namespaces of the given
// namespaced resources.
func New(cc *controllers.Context, resources []schema.GroupVersionResource) *Controller {
	return &Controller{
		client:     cc.Client,
		meta:       cc.Metadata,
		resources:  resources,
		namespaces: cc.Informers.Core().V1().Namespaces().Informer(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		log: slog.Default().With("component", "namespace-controller"),
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	synced := controllers.Handle(ctx, c.namespaces, cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	if !cache.WaitForCacheSync(ctx.Done(), synced) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 2, c.sync, c.log)
}

// sync deletes everything in a terminating namespace, reports what is left
// in the namespace's conditions and, once nothing is left, removes the
// kubernetes finalizer so the namespace goes away.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return nil
	}
	ns = ns.DeepCopy()
	var progress deletionProgress
	background := metav1.DeletePropagationBackground
	for _, gvr := range c.resources {
		res := c.meta.Resource(gvr).Namespace(name)
		if err := res.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
			progress.failed(gvr, err)
			continue
		}
		list, err := res.List(ctx, metav1.ListOptions{})
		if err != nil {
			progress.failed(gvr, err)
			continue
		}
		progress.remain(gvr, list.Items)
	}
	if err := c.reportProgress(ctx, ns, &progress); err != nil {
		return err
	}
	if !progress.done() {
		// Pods being terminated gracefully, or objects held by
		// finalizers: look again shortly.
		return controllers.RetryAfter(2 * time.Second)
	}
	keep := ns.Spec.Finalizers[:0]
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	ns.Spec.Finalizers = keep
	_, err = c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		c.log.Info("namespace emptied", "namespace", name)
	}
	return err
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}
