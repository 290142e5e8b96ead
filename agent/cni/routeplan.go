package cni

import (
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// connectedNet is a subnet this node reaches directly (on-link) through one
// of its interfaces, learned from the interface's address.
type connectedNet struct {
	linkIndex int
	addr      net.IP // this node's own address on it
	subnet    *net.IPNet
}

// nodeRoute is the route to another node's pod CIDR through that node.
type nodeRoute struct {
	node      string
	dst       *net.IPNet
	gateway   net.IP
	linkIndex int
}

// planRoutes decides the route for every pod CIDR of every node but self.
// A node is skipped, with the reason, when its address is not on one of the
// connected subnets: the next hop must be reachable without a router for a
// plain route to carry pod addresses.
func planRoutes(self string, nodes []*corev1.Node, connected []connectedNet) (routes []nodeRoute, skipped map[string]string) {
	skipped = map[string]string{}
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	owner := map[string]string{} // pod CIDR -> node that claimed it first
	for _, node := range nodes {
		if node.Name == self {
			continue
		}
		var reasons []string
		for _, cidr := range nodePodCIDRs(node) {
			_, dst, err := net.ParseCIDR(cidr)
			if err != nil {
				reasons = append(reasons, fmt.Sprintf("pod CIDR %q does not parse", cidr))
				continue
			}
			if other, taken := owner[dst.String()]; taken {
				reasons = append(reasons, fmt.Sprintf("pod CIDR %s is also claimed by node %s", dst, other))
				continue
			}
			owner[dst.String()] = node.Name
			gateway := internalIP(node, isIPv4(dst.IP))
			if gateway == nil {
				reasons = append(reasons, fmt.Sprintf("no InternalIP for pod CIDR %s", dst))
				continue
			}
			link, reason := onLink(gateway, connected)
			if reason != "" {
				reasons = append(reasons, reason)
				continue
			}
			routes = append(routes, nodeRoute{node: node.Name, dst: dst, gateway: gateway, linkIndex: link})
		}
		if len(reasons) > 0 {
			skipped[node.Name] = strings.Join(reasons, "; ")
		}
	}
	return routes, skipped
}

// onLink returns the interface through which ip is directly reachable, or
// why it is not.
func onLink(ip net.IP, connected []connectedNet) (linkIndex int, reason string) {
	for _, c := range connected {
		if c.addr.Equal(ip) {
			return 0, fmt.Sprintf("its InternalIP %s is an address of this node", ip)
		}
	}
	for _, c := range connected {
		if c.subnet.Contains(ip) {
			return c.linkIndex, ""
		}
	}
	return 0, fmt.Sprintf("its InternalIP %s is not on a network this node is directly connected to; cross-node pod traffic to it needs an overlay", ip)
}

// nodePodCIDRs returns spec.podCIDRs, or spec.podCIDR for nodes written by
// clients that set only the older field.
func nodePodCIDRs(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) > 0 {
		return node.Spec.PodCIDRs
	}
	if node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return nil
}

// internalIP returns the node's first InternalIP of the given family.
func internalIP(node *corev1.Node, ipv4 bool) net.IP {
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip := net.ParseIP(a.Address); ip != nil && isIPv4(ip) == ipv4 {
			return ip
		}
	}
	return nil
}

// slimNode keeps only what routing needs from a Node: its name, pod CIDRs
// and InternalIPs. Everything else (images, conditions, labels) changes
// often and would cost memory for every node in the cluster.
func slimNode(obj any) (any, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // deletion tombstones pass through unchanged
	}
	slim := &corev1.Node{}
	slim.Name = node.Name
	slim.UID = node.UID
	slim.ResourceVersion = node.ResourceVersion
	slim.Spec.PodCIDR = node.Spec.PodCIDR
	slim.Spec.PodCIDRs = node.Spec.PodCIDRs
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			slim.Status.Addresses = append(slim.Status.Addresses, a)
		}
	}
	return slim, nil
}

// routingChanged reports whether an update touches what planRoutes reads.
func routingChanged(old, updated *corev1.Node) bool {
	return !slices.Equal(nodePodCIDRs(old), nodePodCIDRs(updated)) ||
		!slices.Equal(old.Status.Addresses, updated.Status.Addresses)
}
