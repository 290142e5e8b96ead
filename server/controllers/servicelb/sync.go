package servicelb

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// Event reasons on Services.
const (
	// ReasonUpdated: the ingress addresses changed (k3s's reason).
	ReasonUpdated = "UpdatedLoadBalancer"
	// ReasonUnavailable: no node can serve the Service (k3s's reason).
	ReasonUnavailable = "UnAvailableLoadBalancer"
	// ReasonPortConflict: an older Service holds a port of this one on
	// some or all node addresses.
	ReasonPortConflict = "PortConflict"
)

// sync writes the ingress of the Service at key: the node addresses it was
// granted when it is balanced, none when it is no LoadBalancer at all.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller queued
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.forgetReported(key)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.LoadBalancerClass != nil {
		return nil // another implementation's
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		c.forgetReported(key)
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			return nil
		}
		return c.writeIngress(ctx, svc, nil)
	}

	g, err := c.grantOf(svc)
	if err != nil {
		return err
	}
	c.reportConflicts(svc, g.conflicts)
	want := ingressOf(g.ips)
	if ingressEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	if err := c.writeIngress(ctx, svc, want); err != nil {
		return err
	}
	switch {
	case len(want) > 0:
		c.recorder.Eventf(svc, nil, corev1.EventTypeNormal, ReasonUpdated, "Update",
			"Updated LoadBalancer with new IPs: %v -> %v", ingressIPs(svc.Status.LoadBalancer.Ingress), ingressIPs(want))
	case len(g.conflicts) == 0:
		c.recorder.Eventf(svc, nil, corev1.EventTypeWarning, ReasonUnavailable, "Update", "There are no available nodes for LoadBalancer")
	}
	return nil
}

// grantOf settles the ports of every balanced Service on the node
// addresses and returns what svc got.
func (c *Controller) grantOf(svc *corev1.Service) (grant, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return grant{}, fmt.Errorf("listing nodes: %w", err)
	}
	services, err := c.services.List(labels.Everything())
	if err != nil {
		return grant{}, fmt.Errorf("listing services: %w", err)
	}
	pool := newNodePool(nodes)
	claims := make([]claim, 0, len(services))
	for _, s := range services {
		if !balanced(s) {
			continue
		}
		only, err := c.endpointNodes(s)
		if err != nil {
			return grant{}, err
		}
		claims = append(claims, claim{svc: s, ips: pool.addresses(s, only)})
	}
	return resolve(claims, c.reservedTCP)[key(svc)], nil
}

// reportConflicts records a Warning Event on svc when the conflicts
// keeping it off addresses start or change.
func (c *Controller) reportConflicts(svc *corev1.Service, conflicts []conflict) {
	if len(conflicts) == 0 {
		c.forgetReported(key(svc))
		return
	}
	note := describe(conflicts)
	c.mu.Lock()
	same := c.reported[key(svc)] == note
	c.reported[key(svc)] = note
	c.mu.Unlock()
	if !same {
		var related runtime.Object
		if h := conflicts[0].holder; h != nil {
			related = h
		}
		c.recorder.Eventf(svc, related, corev1.EventTypeWarning, ReasonPortConflict, "Allocate", "%s", note)
	}
}

func (c *Controller) forgetReported(key string) {
	c.mu.Lock()
	delete(c.reported, key)
	c.mu.Unlock()
}

// writeIngress sets svc's ingress to ingress through the status subresource.
func (c *Controller) writeIngress(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	updated := svc.DeepCopy()
	updated.Status.LoadBalancer.Ingress = ingress
	_, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating the load balancer status of service %s: %w", key(svc), err)
	}
	if err == nil {
		c.log.Info("load balancer addresses", "service", key(svc), "ingress", ingressIPs(ingress))
	}
	return nil
}

// ingressOf lists ips as VIP ingress: traffic arrives for the address
// itself, and the proxy on the node delivers it.
func ingressOf(ips []netip.Addr) []corev1.LoadBalancerIngress {
	if len(ips) == 0 {
		return nil
	}
	out := make([]corev1.LoadBalancerIngress, len(ips))
	for i, ip := range ips {
		mode := corev1.LoadBalancerIPModeVIP
		out[i] = corev1.LoadBalancerIngress{IP: ip.String(), IPMode: &mode}
	}
	return out
}

func ingressEqual(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && len(x.Ports) == 0 && len(y.Ports) == 0 &&
			(x.IPMode == nil) == (y.IPMode == nil) && (x.IPMode == nil || *x.IPMode == *y.IPMode)
	})
}

func ingressIPs(ingress []corev1.LoadBalancerIngress) []string {
	out := make([]string, len(ingress))
	for i, in := range ingress {
		out[i] = in.IP
	}
	return out
}
