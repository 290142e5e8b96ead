package servicelb

import (
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"kite/server/controllers"
)

// Node labels k3s users already put on their nodes, kept under k3s's
// names so their manifests and scripts carry over.
const (
	// EnableLBLabel opts a node in: once any node carries it, only the
	// nodes where it is "true" serve LoadBalancer Services.
	EnableLBLabel = "svccontroller.k3s.cattle.io/enablelb"
	// LBPoolLabel names a pool of opted-in nodes; a Service carrying it
	// is served only by the nodes of that pool.
	LBPoolLabel = "svccontroller.k3s.cattle.io/lbpool"
)

// nodePool is the nodes LoadBalancer Services may be served on, as one
// sync sees them.
type nodePool struct {
	nodes []*corev1.Node
	// optIn is set when some node carries EnableLBLabel (whatever its
	// value): then only the nodes labelled "true" are used, as k3s does.
	optIn bool
}

func newNodePool(nodes []*corev1.Node) nodePool {
	p := nodePool{nodes: nodes}
	for _, n := range nodes {
		if _, ok := n.Labels[EnableLBLabel]; ok {
			p.optIn = true
			break
		}
	}
	return p
}

// addresses returns the ingress IPs of svc: the addresses of the usable
// nodes that serve it, deduplicated, sorted within each IP family, the
// families in the order of svc's ipFamilies. When only is not nil, just
// the nodes it names count (for externalTrafficPolicy Local, the nodes
// with a ready endpoint: the others drop the traffic).
func (p nodePool) addresses(svc *corev1.Service, only map[string]bool) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, n := range p.nodes {
		if !controllers.NodeUsable(n) || !p.serves(n, svc) || only != nil && !only[n.Name] {
			continue
		}
		for _, ip := range controllers.NodeAddresses(n) {
			if ip.Is4() {
				v4 = append(v4, ip)
			} else {
				v6 = append(v6, ip)
			}
		}
	}
	var out []netip.Addr
	for _, family := range families(svc) {
		list := v4
		if family == corev1.IPv6Protocol {
			list = v6
		}
		slices.SortFunc(list, netip.Addr.Compare)
		out = append(out, slices.Compact(list)...)
	}
	return out
}

// serves tells whether node n may serve svc under the opt-in labels.
func (p nodePool) serves(n *corev1.Node, svc *corev1.Service) bool {
	if !p.optIn {
		return true
	}
	if n.Labels[EnableLBLabel] != "true" {
		return false
	}
	pool := svc.Labels[LBPoolLabel]
	return pool == "" || n.Labels[LBPoolLabel] == pool
}

// families are the IP families svc is served on, in its preferred order.
func families(svc *corev1.Service) []corev1.IPFamily {
	if len(svc.Spec.IPFamilies) == 0 {
		// The API server fills ipFamilies in for every Service that has a
		// cluster IP, which a LoadBalancer always has; be lenient anyway.
		return []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
	return svc.Spec.IPFamilies
}

// nodeChanged tells whether a node update can change what any Service is
// served on (heartbeats alone cannot).
func nodeChanged(old, cur *corev1.Node) bool {
	return controllers.NodeUsable(old) != controllers.NodeUsable(cur) ||
		!slices.Equal(old.Status.Addresses, cur.Status.Addresses) ||
		!maps.Equal(old.Labels, cur.Labels)
}
