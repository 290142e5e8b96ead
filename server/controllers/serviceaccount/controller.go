// Package serviceaccount makes sure every active namespace has its
// "default" ServiceAccount, as kube-controller-manager's serviceaccount
// controller does: created with the namespace, recreated when deleted.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller is the serviceaccount controller.
type Controller struct {
	client          kubernetes.Interface
	namespaces      corelisters.NamespaceLister
	serviceAccounts corelisters.ServiceAccountLister
	informers       struct{ namespaces, serviceAccounts cache.SharedIndexInformer }
	queue           workqueue.TypedRateLimitingInterface[string] // namespace names
	log             *slog.Logger
}

// New returns a serviceaccount controller.
func New(cc *controllers.Context) *Controller {
	core := cc.Informers.Core().V1()
	c := &Controller{
		client:          cc.Client,
		namespaces:      core.Namespaces().Lister(),
		serviceAccounts: core.ServiceAccounts().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
		log: slog.Default().With("component", "serviceaccount-controller"),
	}
	c.informers.namespaces = core.Namespaces().Informer()
	c.informers.serviceAccounts = core.ServiceAccounts().Informer()
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.namespaces, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if ns, ok := obj.(*corev1.Namespace); ok {
					c.queue.Add(ns.Name)
				}
			},
			UpdateFunc: func(_, obj any) {
				if ns, ok := obj.(*corev1.Namespace); ok {
					c.queue.Add(ns.Name)
				}
			},
		}),
		controllers.Handle(ctx, c.informers.serviceAccounts, cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(obj any) {
				if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = tomb.Obj
				}
				if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
					c.queue.Add(sa.Namespace)
				}
			},
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 1, c.sync, c.log)
}

// sync creates the default ServiceAccount of an active namespace that
// lacks one. Terminating namespaces get nothing new.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		return nil
	}
	switch _, err := c.serviceAccounts.ServiceAccounts(namespace).Get(DefaultName); {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: DefaultName}}
	_, err = c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created default service account", "namespace", namespace)
		return nil
	case apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// Already there (the cache lags), or the namespace went away or
		// began terminating meanwhile.
		return nil
	default:
		return fmt.Errorf("creating service account %s/%s: %w", namespace, DefaultName, err)
	}
}
