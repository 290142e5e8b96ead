package ingressstatus

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"kite/server/controllers"
)

// addresses returns what every Ingress served by kite is reached on: the
// addresses of the usable nodes (each runs the ingress proxy), sorted
// (IPv4 first) and deduplicated.
func addresses(nodes []*corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		if controllers.NodeUsable(n) {
			out = append(out, controllers.NodeAddresses(n)...)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// nodeChanged tells whether a node update can change the addresses
// (heartbeats alone cannot; labels matter through the exclusion label).
func nodeChanged(old, cur *corev1.Node) bool {
	return controllers.NodeUsable(old) != controllers.NodeUsable(cur) ||
		!slices.Equal(controllers.NodeAddresses(old), controllers.NodeAddresses(cur))
}

// loadBalancerOf lists ips as an Ingress's load balancer status.
func loadBalancerOf(ips []netip.Addr) []networkingv1.IngressLoadBalancerIngress {
	if len(ips) == 0 {
		return nil
	}
	out := make([]networkingv1.IngressLoadBalancerIngress, len(ips))
	for i, ip := range ips {
		out[i] = networkingv1.IngressLoadBalancerIngress{IP: ip.String()}
	}
	return out
}

// loadBalancerEqual compares two load balancer lists, entry by entry.
func loadBalancerEqual(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y networkingv1.IngressLoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}

func ipsOf(lb []networkingv1.IngressLoadBalancerIngress) []string {
	out := make([]string, len(lb))
	for i, in := range lb {
		out[i] = in.IP
	}
	return out
}
