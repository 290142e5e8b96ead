package ingressstatus

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"kite/ingress"
)

// sync brings the Ingress at key up to date: the node addresses when kite
// serves it, and none, if this controller wrote them, when it does not.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller queued
	}
	ing, err := c.ingresses.Ingresses(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !ingress.ServedByKite(ing, c.kiteIsDefault()) {
		return c.release(ctx, ing)
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	want := loadBalancerOf(addresses(nodes))
	if loadBalancerEqual(ing.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	// The cached copy's resourceVersion makes a write over a newer object
	// fail with a conflict, and the retry sees the newer object.
	return c.write(ctx, ing, want)
}

// release clears the addresses of an Ingress kite no longer serves when
// this controller wrote them. The cache keeps no managedFields, so the
// Ingress is read afresh, and only when it has addresses at all.
func (c *Controller) release(ctx context.Context, cached *networkingv1.Ingress) error {
	if len(cached.Status.LoadBalancer.Ingress) == 0 {
		return nil
	}
	ing, err := c.client.NetworkingV1().Ingresses(cached.Namespace).Get(ctx, cached.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ingress %s/%s: %w", cached.Namespace, cached.Name, err)
	}
	if ingress.ServedByKite(ing, c.kiteIsDefault()) || len(ing.Status.LoadBalancer.Ingress) == 0 || !wroteLoadBalancer(ing) {
		return nil
	}
	return c.write(ctx, ing, nil)
}

// write sets ing's load balancer status through the status subresource.
func (c *Controller) write(ctx context.Context, ing *networkingv1.Ingress, lb []networkingv1.IngressLoadBalancerIngress) error {
	updated := ing.DeepCopy()
	updated.Status.LoadBalancer.Ingress = lb
	_, err := c.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("updating the load balancer status of ingress %s/%s: %w", ing.Namespace, ing.Name, err)
	}
	c.log.Info("ingress addresses", "ingress", ing.Namespace+"/"+ing.Name, "from", ipsOf(ing.Status.LoadBalancer.Ingress), "to", ipsOf(lb))
	return nil
}
