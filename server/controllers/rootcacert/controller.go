// Package rootcacert publishes the cluster CA in every namespace as the
// ConfigMap kube-root-ca.crt (key ca.crt), as kube-controller-manager's
// root-ca-cert-publisher does; pods mount it to verify the API server.
package rootcacert

import (
	"context"
	"fmt"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

const (
	// ConfigMapName is the ConfigMap published in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// DataKey holds the PEM bundle.
	DataKey = "ca.crt"
	// DescriptionAnnotation explains the ConfigMap to whoever finds it.
	DescriptionAnnotation = "kubernetes.io/description"
	// Description is upstream's wording.
	Description = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Controller is the root CA publisher.
type Controller struct {
	client     kubernetes.Interface
	caPEM      string
	configMaps corelisters.ConfigMapLister
	// published watches only the ConfigMaps named kube-root-ca.crt, so
	// the rest of the cluster's ConfigMaps are never cached for it.
	published informers.SharedInformerFactory
	informers struct{ namespaces, configMaps cache.SharedIndexInformer }
	queue     workqueue.TypedRateLimitingInterface[string] // namespace names
	log       *slog.Logger
}

// New returns a controller publishing caPEM (the cluster CA certificate
// bundle, PEM) in every namespace.
func New(cc *controllers.Context, caPEM []byte) *Controller {
	published := informers.NewSharedInformerFactoryWithOptions(cc.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()
	}))
	c := &Controller{
		client:     cc.Client,
		caPEM:      string(caPEM),
		configMaps: published.Core().V1().ConfigMaps().Lister(),
		published:  published,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "root_ca_cert_publisher"}),
		log: slog.Default().With("component", "root-ca-cert-publisher"),
	}
	c.informers.namespaces = cc.Informers.Core().V1().Namespaces().Informer()
	c.informers.configMaps = published.Core().V1().ConfigMaps().Informer()
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	c.published.Start(ctx.Done())
	defer c.published.Shutdown()
	enqueueOwner := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == ConfigMapName {
			c.queue.Add(cm.Namespace)
		}
	}
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers.namespaces, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if ns, ok := obj.(*corev1.Namespace); ok {
					c.queue.Add(ns.Name)
				}
			},
			UpdateFunc: func(_, obj any) {
				if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase == corev1.NamespaceActive {
					c.queue.Add(ns.Name)
				}
			},
		}),
		// Edited or deleted copies are put back.
		controllers.Handle(ctx, c.informers.configMaps, cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(_, obj any) { enqueueOwner(obj) },
			DeleteFunc: enqueueOwner,
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 1, c.sync, c.log)
}

// sync creates or corrects the namespace's kube-root-ca.crt.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	want := map[string]string{DataKey: c.caPEM}
	cur, err := c.configMaps.ConfigMaps(namespace).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:        ConfigMapName,
				Annotations: map[string]string{DescriptionAnnotation: Description},
			},
			Data: want,
		}, metav1.CreateOptions{})
		// A namespace gone or terminating gets nothing new.
		if err == nil || apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return fmt.Errorf("creating %s/%s: %w", namespace, ConfigMapName, err)
	}
	if err != nil {
		return err
	}
	if maps.Equal(cur.Data, want) && cur.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm := cur.DeepCopy()
	cm.Data = want
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	if _, err := c.client.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating %s/%s: %w", namespace, ConfigMapName, err)
	}
	return nil
}
