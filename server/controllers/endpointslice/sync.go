package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"kite/server/controllers"
	"kite/server/controllers/endpoints/backends"
)

// sync brings the slices of the Service with the given key in line with
// the pods it selects.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller queued
	}
	service := types.NamespacedName{Namespace: namespace, Name: name}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector would remove the slices too (they are
		// owned by the Service); proxies stop using them sooner this way.
		c.triggers.Forget(key)
		err := c.deleteAll(ctx, service)
		c.tracker.forget(service)
		return err
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		// Slices of a Service without a selector are the user's to write;
		// this controller's own would point at pods no longer selected.
		c.triggers.Forget(key)
		return c.deleteAll(ctx, service)
	}

	pods, err := c.pods.Pods(namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	cached, err := c.managedSlices(service)
	if err != nil {
		return err
	}
	if c.tracker.stale(service, cached) {
		return controllers.RetryAfter(staleRetry)
	}
	triggered, published := c.triggers.Observe(key, svc, pods)
	if err := c.reconcile(ctx, svc, pods, cached, triggered); err != nil {
		c.recorder.Eventf(svc, nil, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Update",
			"Error updating Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		return err
	}
	published()
	return nil
}

// managedSlices are the cached slices this controller keeps for the
// Service, leaving out those already being deleted.
func (c *Controller) managedSlices(service types.NamespacedName) ([]*discovery.EndpointSlice, error) {
	list, err := c.slices.EndpointSlices(service.Namespace).List(labels.SelectorFromValidatedSet(labels.Set{
		discovery.LabelServiceName: service.Name,
		discovery.LabelManagedBy:   ManagedBy,
	}))
	if err != nil {
		return nil, err
	}
	out := list[:0:0]
	for _, s := range list {
		if s.DeletionTimestamp == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// reconcile plans and writes the slices of every address type of svc, and
// deletes those of address types it no longer has.
func (c *Controller) reconcile(ctx context.Context, svc *corev1.Service, pods []*corev1.Pod, cached []*discovery.EndpointSlice, triggered time.Time) error {
	wanted := addressTypes(svc)
	byType := map[discovery.AddressType][]*discovery.EndpointSlice{}
	var obsolete plan
	for _, s := range cached {
		if containsType(wanted, s.AddressType) {
			byType[s.AddressType] = append(byType[s.AddressType], s)
		} else {
			obsolete.delete = append(obsolete.delete, s)
		}
	}
	var errs []error
	for _, at := range wanted {
		want, err := c.desired(svc, pods, at)
		if err != nil {
			errs = append(errs, err) // still publish the other pods
		}
		p := planAddressType(svc, at, byType[at], want, maxEndpointsPerSlice)
		applyHints(svc, &p, untouched(byType[at], p))
		if err := c.write(ctx, svc, p, triggered); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.write(ctx, svc, obsolete, triggered); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func containsType(types []discovery.AddressType, at discovery.AddressType) bool {
	for _, t := range types {
		if t == at {
			return true
		}
	}
	return false
}

// untouched are the existing slices a plan neither updates nor deletes.
func untouched(existing []*discovery.EndpointSlice, p plan) []*discovery.EndpointSlice {
	changed := map[string]bool{}
	for _, s := range p.update {
		changed[s.Name] = true
	}
	for _, s := range p.delete {
		changed[s.Name] = true
	}
	var out []*discovery.EndpointSlice
	for _, s := range existing {
		if !changed[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// desired groups the endpoints of address type at that svc's pods offer by
// their ports. Pods on nodes missing from the cache are left out (and
// reported, so the sync is retried) unless the Service publishes every
// address anyway: an endpoint without its node's zone is still useful.
func (c *Controller) desired(svc *corev1.Service, pods []*corev1.Pod, at discovery.AddressType) (map[string]*portGroup, error) {
	want := map[string]*portGroup{}
	var errs []error
	for _, pod := range pods {
		if !backends.Published(pod, true) {
			continue
		}
		node, err := c.nodes.Get(pod.Spec.NodeName)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, err
			}
			node = nil
			if !svc.Spec.PublishNotReadyAddresses {
				errs = append(errs, fmt.Errorf("skipping Pod %s for Service %s/%s: Node %s Not Found", pod.Name, svc.Namespace, svc.Name, pod.Spec.NodeName))
				continue
			}
		}
		ep := podEndpoint(svc, pod, node, at)
		if len(ep.Addresses) == 0 {
			continue // no address of this family
		}
		ports := podPorts(svc, pod)
		k := portsKey(ports)
		g := want[k]
		if g == nil {
			g = &portGroup{ports: ports, endpoints: map[string]*discovery.Endpoint{}}
			want[k] = g
		}
		g.endpoints[endpointKey(&ep)] = &ep
	}
	return want, errors.Join(errs...)
}

// write carries out a plan, creations first so that endpoints moving
// between slices are never missing from all of them.
func (c *Controller) write(ctx context.Context, svc *corev1.Service, p plan, triggered time.Time) error {
	reuseDeleted(svc, &p)
	api := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	// A Service being deleted gets no new slices: the garbage collector
	// is removing them.
	if svc.DeletionTimestamp == nil {
		for _, s := range p.create {
			s.Annotations = backends.SetTriggerTime(s.Annotations, triggered)
			created, err := api.Create(ctx, s, metav1.CreateOptions{})
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // nothing more can be created there
			}
			if err != nil {
				return fmt.Errorf("failed to create EndpointSlice for Service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
			c.tracker.wrote(created)
		}
	}
	for _, s := range p.update {
		s.Annotations = backends.SetTriggerTime(s.Annotations, triggered)
		updated, err := api.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("failed to update %s EndpointSlice for Service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err)
		}
		c.tracker.wrote(updated)
	}
	for _, s := range p.delete {
		if err := c.deleteSlice(ctx, s); err != nil {
			return fmt.Errorf("failed to delete %s EndpointSlice for Service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err)
		}
	}
	return nil
}

// deleteAll deletes every slice this controller keeps for the Service.
func (c *Controller) deleteAll(ctx context.Context, service types.NamespacedName) error {
	cached, err := c.managedSlices(service)
	if err != nil {
		return err
	}
	for _, s := range cached {
		if err := c.deleteSlice(ctx, s); err != nil {
			return fmt.Errorf("deleting EndpointSlice %s: %w", s.Name, err)
		}
	}
	return nil
}

// deleteSlice deletes exactly s (not a newer slice of the same name).
func (c *Controller) deleteSlice(ctx context.Context, s *discovery.EndpointSlice) error {
	err := c.client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	c.tracker.deleted(s)
	return nil
}
