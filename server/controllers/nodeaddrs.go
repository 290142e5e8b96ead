package controllers

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// NodeUsable tells whether n can take load-balanced traffic now: Ready,
// not being deleted, and not excluded from load balancers by the
// well-known label. ServiceLB and the Ingress status both publish only
// such nodes.
func NodeUsable(n *corev1.Node) bool {
	if n.DeletionTimestamp != nil {
		return false
	}
	if _, excluded := n.Labels[corev1.LabelNodeExcludeBalancers]; excluded {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeAddresses returns the IPs n is reached on from outside: per IP
// family its ExternalIPs when it has any, else its InternalIPs (so a node
// with a public IPv4 and only an internal IPv6 still offers both). IPv4
// comes first; within a family the order is the node's.
func NodeAddresses(n *corev1.Node) []netip.Addr {
	var external, internal []netip.Addr
	for _, a := range n.Status.Addresses {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil || ip.Zone() != "" {
			continue
		}
		ip = ip.Unmap()
		switch a.Type {
		case corev1.NodeExternalIP:
			external = append(external, ip)
		case corev1.NodeInternalIP:
			internal = append(internal, ip)
		}
	}
	var out []netip.Addr
	for _, is4 := range []bool{true, false} {
		ext := slices.DeleteFunc(slices.Clone(external), func(ip netip.Addr) bool { return ip.Is4() != is4 })
		if len(ext) > 0 {
			out = append(out, ext...)
			continue
		}
		out = append(out, slices.DeleteFunc(slices.Clone(internal), func(ip netip.Addr) bool { return ip.Is4() != is4 })...)
	}
	return out
}
