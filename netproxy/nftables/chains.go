package nftables

import (
	"net/netip"

	v1 "k8s.io/api/core/v1"
)

// baseChain is a chain attached to a netfilter hook.
type baseChain struct {
	name, kind, hook string
	priority         int32
}

// Hook priorities: dstnat is -100, srcnat 100, filter 0; source-range
// checks run just before DNAT.
const (
	priorityDstNAT   = -100
	priorityFirewall = -110
	prioritySrcNAT   = 100
	priorityFilter   = 0
)

// baseChains lists the hooks the proxy uses. Source-range checks run
// before DNAT so they see the load-balancer IP; the endpoint checks run at
// the filter priority, after DNAT, so only traffic no rule translated is
// rejected, as with the iptables backend.
func baseChains() []baseChain {
	return []baseChain{
		{natPreroutingChain, "nat", "prerouting", priorityDstNAT},
		{natOutputChain, "nat", "output", priorityDstNAT},
		{natPostroutingChain, "nat", "postrouting", prioritySrcNAT},
		{filterPreroutingFW, "filter", "prerouting", priorityFirewall},
		{filterOutputFW, "filter", "output", priorityFirewall},
		{filterInputChain, "filter", "input", priorityFilter},
		{filterForwardChain, "filter", "forward", priorityFilter},
		{filterOutputChain, "filter", "output", priorityFilter},
	}
}

// baseRules are the jumps from a hook into kite's chains. Node ports on
// 127.0.0.1 work in IPv4 (route_localnet), so packets from elsewhere to
// 127.0.0.0/8 are dropped unless a service rule translated them.
func (r renderer) baseRules(name string) []rule {
	f := r.family
	var localnet []rule
	if !f.ipv6 {
		loopback := netip.MustParsePrefix("127.0.0.0/8")
		localnet = []rule{newRule().addrIs(f, "daddr", false, loopback).addrIs(f, "saddr", true, loopback).
			ctNotEstablished().ctDNAT(false).verdict("drop").rule()}
	}
	newConn := func(chain string) rule { return newRule().ctStateNew().verdict("jump " + chain).rule() }
	switch name {
	case natPreroutingChain, natOutputChain:
		return []rule{newRule().verdict("jump " + servicesChain).rule()}
	case natPostroutingChain:
		return []rule{newRule().verdict("jump " + masqueradingChain).rule()}
	case filterPreroutingFW, filterOutputFW:
		return []rule{newConn(firewallCheckChain)}
	case filterInputChain:
		return append([]rule{newConn(externalCheck)}, localnet...)
	case filterForwardChain:
		return append([]rule{newConn(clusterIPCheck), newConn(externalCheck)}, localnet...)
	case filterOutputChain:
		return append([]rule{newConn(clusterIPCheck)}, localnet...)
	}
	return nil
}

// fixedChains are the regular chains every table has.
func (r renderer) fixedChains() []chain {
	f := r.family
	nodePorts := func(set string) rule {
		b := newRule().fibLocal("daddr")
		if f.ipv6 {
			// route_localnet has no IPv6 counterpart: ::1 cannot be DNATed.
			b.addrIs(f, "daddr", true, netip.PrefixFrom(netip.IPv6Loopback(), 128))
		}
		return b.serviceVmap(f, false, set).rule()
	}
	byAddr := func(set string) rule { return newRule().serviceVmap(f, true, set).rule() }
	return []chain{
		{servicesChain, []rule{byAddr(serviceIPsMap), nodePorts(serviceNodePortsMap)}},
		{markMasqChain, []rule{newRule().markMasq().rule()}},
		{masqueradingChain, []rule{
			// An endpoint reaching itself through a service must see the
			// reply come from this node, or it answers itself directly.
			newRule().ctDNAT(true).pairInSet(f, hairpinSet).masquerade().rule(),
			newRule().notMarked().verdict("return").rule(),
			// Clear the mark so a packet re-entering the stack (hairpin on
			// a bridge) is not masqueraded twice.
			newRule().clearMasq().rule(),
			newRule().masquerade().rule(),
		}},
		{firewallCheckChain, []rule{byAddr(firewallIPsMap)}},
		{clusterIPCheck, []rule{byAddr(noEndpointServicesMap)}},
		{externalCheck, []rule{byAddr(noEndpointExternalMap), nodePorts(noEndpointNodePortsMap)}},
		{rejectChain, []rule{
			newRule().l4proto(v1.ProtocolTCP).reject(f, true).rule(),
			newRule().reject(f, false).rule(),
		}},
	}
}
