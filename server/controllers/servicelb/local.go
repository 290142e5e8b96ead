package servicelb

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// localOnly tells whether svc's external traffic is delivered only to
// endpoints on the node it arrives at, so that only the nodes with a
// ready endpoint can serve it.
func localOnly(svc *corev1.Service) bool {
	return svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// endpointNodes returns the nodes holding a ready pod endpoint of svc,
// or nil when svc is served by every node.
func (c *Controller) endpointNodes(svc *corev1.Service) (map[string]bool, error) {
	if !localOnly(svc) {
		return nil, nil
	}
	list, err := c.slices.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(labels.Set{discovery.LabelServiceName: svc.Name}))
	if err != nil {
		return nil, fmt.Errorf("listing endpoint slices of %s: %w", key(svc), err)
	}
	out := map[string]bool{}
	for _, s := range list {
		for node := range readyNodes(s) {
			out[node] = true
		}
	}
	return out, nil
}

// readyNodes are the nodes of slice's ready pod endpoints.
func readyNodes(slice *discovery.EndpointSlice) map[string]bool {
	out := map[string]bool{}
	for _, ep := range slice.Endpoints {
		pod := ep.TargetRef != nil && ep.TargetRef.Kind == "Pod"
		ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
		if pod && ready && ep.NodeName != nil {
			out[*ep.NodeName] = true
		}
	}
	return out
}
