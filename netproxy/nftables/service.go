package nftables

import (
	"net/netip"

	"kite/netproxy"
)

// chain is one per-service chain and its rules.
type chain struct {
	name  string
	rules []rule
}

// affinity is one endpoint's set of recent clients, for ClientIP affinity.
type affinity struct {
	name    string
	timeout int32 // seconds
}

// serviceRules is what one service port contributes: map elements (kept
// in step at every sync) and chains and sets of its own (rewritten only
// when the service port changed).
type serviceRules struct {
	owner    netproxy.ServicePortName
	elements map[string][]element // by map name
	chains   []chain
	sets     []affinity
}

func (r *serviceRules) add(mapName string, key setKey, verdict string) {
	r.elements[mapName] = append(r.elements[mapName], element{key: key, verdict: verdict, owner: r.owner})
}

func gotoChain(name string) string { return "goto " + name }

// renderService computes the elements and, when withChains, the chains of
// one service port in family f. It returns nil when the port has no
// cluster IP in f. What to build comes from netproxy.Plan, as in the
// iptables backend.
func renderService(sp *netproxy.ServicePort, f family, podCIDR netip.Prefix, withChains bool) *serviceRules {
	plan := sp.PlanFor(f.ipv6)
	if plan == nil {
		return nil
	}
	name := sp.Name
	svc, svl, ext, fw := serviceChain(name), localChain(name), externalChain(name), firewallChain(name)
	chainNames := [...]string{netproxy.ServiceChain: svc, netproxy.LocalChain: svl, netproxy.ExternalChain: ext, netproxy.FirewallChain: fw}
	internalTarget, externalTarget := chainNames[plan.InternalTarget], chainNames[plan.ExternalTarget]

	// With no endpoint at all the client learns at once; with endpoints
	// elsewhere only, a Local policy drops like upstream does.
	unreachable := "drop"
	if len(plan.ClusterEndpoints) == 0 {
		unreachable = gotoChain(rejectChain)
	}
	ipKey := func(ip netip.Addr) setKey { return servicePortKey(ip, sp.Protocol, sp.Port) }

	out := &serviceRules{owner: sp.Name, elements: map[string][]element{}}
	for _, ip := range plan.ClusterIPs {
		if len(plan.InternalEndpoints) > 0 {
			out.add(serviceIPsMap, ipKey(ip), gotoChain(internalTarget))
		} else {
			out.add(noEndpointServicesMap, ipKey(ip), unreachable)
		}
	}
	for _, ip := range plan.ExternalIPs {
		if plan.UseExternalChain {
			out.add(serviceIPsMap, ipKey(ip), gotoChain(ext))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.add(noEndpointExternalMap, ipKey(ip), unreachable)
		}
	}
	for _, ip := range plan.LoadBalancerIPs {
		if plan.UseExternalChain {
			out.add(serviceIPsMap, ipKey(ip), gotoChain(ext))
		}
		if plan.UseFirewallChain {
			out.add(firewallIPsMap, ipKey(ip), gotoChain(fw))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.add(noEndpointExternalMap, ipKey(ip), unreachable)
		}
	}
	if sp.NodePort != 0 {
		key := protoPortKey(sp.Protocol, sp.NodePort)
		if plan.UseExternalChain {
			out.add(serviceNodePortsMap, key, gotoChain(ext))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.add(noEndpointNodePortsMap, key, unreachable)
		}
	}
	seen := map[netip.Addr]bool{}
	used := plan.TranslatedEndpoints()
	for _, e := range used {
		if !seen[e.IP] {
			seen[e.IP] = true
			out.add(hairpinSet, hairpinKey(e.IP), "")
		}
	}
	if !withChains {
		return out
	}

	if plan.UseServiceChain {
		c := chain{name: svc}
		if podCIDR.IsValid() {
			// Replies from an endpoint must come back through this node
			// when the client is not a pod.
			for _, ip := range plan.ClusterIPs {
				c.rules = append(c.rules, newRule().addrIsHost(f, "daddr", ip).dport(sp.Protocol, sp.Port).
					addrIs(f, "saddr", true, podCIDR).verdict("jump "+markMasqChain).rule())
			}
		}
		c.rules = append(c.rules, balance(f, sp, plan.ClusterEndpoints)...)
		out.chains = append(out.chains, c)
	}
	if plan.UseLocalChain {
		out.chains = append(out.chains, chain{name: svl, rules: balance(f, sp, plan.LocalEndpoints)})
	}
	if plan.UseExternalChain {
		c := chain{name: ext}
		if sp.ExternalPolicyLocal {
			// Local keeps the client's address, so no masquerading; pods
			// and the node itself still reach any endpoint.
			if podCIDR.IsValid() {
				c.rules = append(c.rules, newRule().addrIs(f, "saddr", false, podCIDR).verdict("goto "+svc).rule())
			}
			c.rules = append(c.rules,
				newRule().fibLocal("saddr").verdict("jump "+markMasqChain).rule(),
				newRule().fibLocal("saddr").verdict("goto "+svc).rule())
			if len(plan.LocalEndpoints) > 0 {
				c.rules = append(c.rules, newRule().verdict(gotoChain(externalTarget)).rule())
			}
		} else {
			c.rules = append(c.rules, newRule().verdict("jump "+markMasqChain).rule(),
				newRule().verdict(gotoChain(externalTarget)).rule())
		}
		out.chains = append(out.chains, c)
	}
	if plan.UseFirewallChain {
		// Allowed sources go back to the hook chain; everyone else is
		// dropped.
		var rules []rule
		for _, r := range sp.LoadBalancerSourceRanges {
			if r.Addr().Is6() == f.ipv6 {
				rules = append(rules, newRule().addrIs(f, "saddr", false, r.Masked()).verdict("return").rule())
			}
		}
		out.chains = append(out.chains, chain{name: fw, rules: append(rules, newRule().verdict("drop").rule())})
	}

	if sp.SessionAffinityTimeout > 0 {
		out.chains, out.sets = append(out.chains, affinityChains(f, sp, used)...), affinitySets(sp, used)
	}
	return out
}

// affinityChains are one chain per endpoint that records the client
// before translating, so its next connections find the same endpoint.
func affinityChains(f family, sp *netproxy.ServicePort, used []netproxy.Endpoint) []chain {
	seen := map[string]bool{}
	var out []chain
	for _, e := range used {
		name := endpointChain(sp.Name, e)
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, chain{name: name, rules: []rule{
			newRule().updateSet(f, affinitySet(sp.Name, e)).rule(),
			newRule().l4proto(sp.Protocol).dnat(f, netip.AddrPortFrom(e.IP, uint16(e.Port))).rule(),
		}})
	}
	return out
}

func affinitySets(sp *netproxy.ServicePort, used []netproxy.Endpoint) []affinity {
	seen := map[string]bool{}
	var out []affinity
	for _, e := range used {
		if name := affinitySet(sp.Name, e); !seen[name] {
			seen[name] = true
			out = append(out, affinity{name: name, timeout: sp.SessionAffinityTimeout})
		}
	}
	return out
}

// balance spreads new connections evenly over eps: the i-th of n endpoints
// takes 1/(n-i) of what the earlier ones left, translating at once. With
// ClientIP affinity, a client seen recently goes back to its endpoint
// first, and the draw picks an endpoint chain that records the client.
//
// One rule with an anonymous map ("dnat to numgen random mod n map {...}")
// would be shorter, but every anonymous set costs the kernel a search
// through all sets of the table: 10,000 services took 16 s to load that
// way and 3 s with a rule per endpoint, measured here.
func balance(f family, sp *netproxy.ServicePort, eps []netproxy.Endpoint) []rule {
	var rules []rule
	affinity := sp.SessionAffinityTimeout > 0
	if affinity {
		for _, e := range eps {
			rules = append(rules, newRule().inSet(f, "saddr", affinitySet(sp.Name, e)).verdict(gotoChain(endpointChain(sp.Name, e))).rule())
		}
	}
	for i, e := range eps {
		b := newRule()
		if left := len(eps) - i; left > 1 {
			b.numgenIs(left)
		}
		if affinity {
			b.verdict(gotoChain(endpointChain(sp.Name, e)))
		} else {
			b.l4proto(sp.Protocol).dnat(f, netip.AddrPortFrom(e.IP, uint16(e.Port)))
		}
		rules = append(rules, b.rule())
	}
	return rules
}
