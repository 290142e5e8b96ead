package nftables

import (
	"net/netip"
	"slices"

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
	owner    *netproxy.ServicePortName // the port's own Name, which never changes
	elements map[string][]element      // by map name
	chains   []chain
	sets     []affinity
	slots    slotBlock // its endpoint slots, when it balances by slot
}

// slotBlock is a service port's endpoint slots: base up to base+size.
type slotBlock struct{ base, size uint32 }

func (r *serviceRules) add(mapName string, key setKey, verdict string) {
	r.elements[mapName] = append(r.elements[mapName], element{key: key, verdict: verdict, owner: r.owner})
}

func gotoChain(name string) string { return "goto " + name }

// chainNames names a port's chains when first needed: hashing the names
// is a good part of rendering a port, and most ports have one chain.
type chainNames struct {
	port  netproxy.ServicePortName
	names [netproxy.FirewallChain + 1]string
}

func (c *chainNames) of(kind netproxy.Chain) string {
	if c.names[kind] == "" {
		switch kind {
		case netproxy.ServiceChain:
			c.names[kind] = serviceChain(c.port)
		case netproxy.LocalChain:
			c.names[kind] = localChain(c.port)
		case netproxy.ExternalChain:
			c.names[kind] = externalChain(c.port)
		case netproxy.FirewallChain:
			c.names[kind] = firewallChain(c.port)
		}
	}
	return c.names[kind]
}

// slotAllocator hands out the first of size consecutive endpoint slots.
type slotAllocator func(size uint32) uint32

// serviceEnv is what rendering any service port of one sync needs.
type serviceEnv struct {
	family  family
	podCIDR netip.Prefix
	// masq is the first rule of every service chain, encoded once for all.
	masq rule
}

func newServiceEnv(f family, podCIDR netip.Prefix) *serviceEnv {
	env := &serviceEnv{family: f, podCIDR: podCIDR}
	if podCIDR.IsValid() {
		// Replies from an endpoint must come back through this node when
		// the client is not a pod. Only traffic to a cluster IP comes to
		// a service chain unmarked from elsewhere: the external chain
		// marks what it sends on itself.
		env.masq = newRule().addrIs(f, "saddr", true, podCIDR).verdict("jump " + markMasqChain).rule()
		// An encoding error shows again where a batch writes the rule.
		_ = env.masq.encode(f)
	}
	return env
}

// renderService computes the elements and chains of one service port in
// family f. It returns nil when the port has no cluster IP in f. What to
// build comes from netproxy.Plan, as in the iptables backend. alloc is
// asked once for the endpoint slots the port balances over, if any.
func renderService(sp *netproxy.ServicePort, env *serviceEnv, alloc slotAllocator) *serviceRules {
	f := env.family
	plan := sp.PlanFor(f.ipv6)
	if plan == nil {
		return nil
	}
	names := &chainNames{port: sp.Name}
	svc, svl, ext, fw := netproxy.ServiceChain, netproxy.LocalChain, netproxy.ExternalChain, netproxy.FirewallChain
	internalTarget, externalTarget := plan.InternalTarget, plan.ExternalTarget

	// With no endpoint at all the client learns at once; with endpoints
	// elsewhere only, a Local policy drops like upstream does.
	unreachable := "drop"
	if len(plan.ClusterEndpoints) == 0 {
		unreachable = gotoChain(rejectChain)
	}
	ipKey := func(ip netip.Addr) setKey { return servicePortKey(ip, sp.Protocol, sp.Port) }

	out := &serviceRules{owner: &sp.Name, elements: map[string][]element{}}
	for _, ip := range plan.ClusterIPs {
		if len(plan.InternalEndpoints) > 0 {
			out.add(serviceIPsMap, ipKey(ip), gotoChain(names.of(internalTarget)))
		} else {
			out.add(noEndpointServicesMap, ipKey(ip), unreachable)
		}
	}
	for _, ip := range plan.ExternalIPs {
		if plan.UseExternalChain {
			out.add(serviceIPsMap, ipKey(ip), gotoChain(names.of(ext)))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.add(noEndpointExternalMap, ipKey(ip), unreachable)
		}
	}
	for _, ip := range plan.LoadBalancerIPs {
		if plan.UseExternalChain {
			out.add(serviceIPsMap, ipKey(ip), gotoChain(names.of(ext)))
		}
		if plan.UseFirewallChain {
			out.add(firewallIPsMap, ipKey(ip), gotoChain(names.of(fw)))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.add(noEndpointExternalMap, ipKey(ip), unreachable)
		}
	}
	if sp.NodePort != 0 {
		key := protoPortKey(sp.Protocol, sp.NodePort)
		if plan.UseExternalChain {
			out.add(serviceNodePortsMap, key, gotoChain(names.of(ext)))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.add(noEndpointNodePortsMap, key, unreachable)
		}
	}
	used := plan.TranslatedEndpoints()
	out.elements[hairpinSet] = make([]element, 0, len(used))
	for i, e := range used {
		// Endpoints come sorted by address, but the local ones follow the
		// cluster ones again.
		if !slices.ContainsFunc(used[:i], func(o netproxy.Endpoint) bool { return o.IP == e.IP }) {
			out.add(hairpinSet, hairpinKey(e.IP), "")
		}
	}

	var clusterSlots, localSlots uint32
	if plan.UseServiceChain && slotted(sp, plan.ClusterEndpoints) {
		clusterSlots = uint32(len(plan.ClusterEndpoints))
	}
	if plan.UseLocalChain && slotted(sp, plan.LocalEndpoints) {
		localSlots = uint32(len(plan.LocalEndpoints))
	}
	var base uint32
	if clusterSlots+localSlots > 0 {
		base = alloc(clusterSlots + localSlots)
		out.slots = slotBlock{base: base, size: clusterSlots + localSlots}
	}
	if plan.UseServiceChain {
		c := chain{name: names.of(svc)}
		if env.podCIDR.IsValid() {
			c.rules = append(c.rules, env.masq)
		}
		c.rules = append(c.rules, out.balance(f, sp, plan.ClusterEndpoints, base)...)
		out.chains = append(out.chains, c)
	}
	if plan.UseLocalChain {
		out.chains = append(out.chains, chain{name: names.of(svl), rules: out.balance(f, sp, plan.LocalEndpoints, base+clusterSlots)})
	}
	if plan.UseExternalChain {
		c := chain{name: names.of(ext)}
		if sp.ExternalPolicyLocal {
			// Local keeps the client's address, so no masquerading; pods
			// and the node itself still reach any endpoint.
			if env.podCIDR.IsValid() {
				c.rules = append(c.rules, newRule().addrIs(f, "saddr", false, env.podCIDR).verdict("goto "+names.of(svc)).rule())
			}
			c.rules = append(c.rules,
				newRule().fibLocal("saddr").verdict("jump "+markMasqChain).rule(),
				newRule().fibLocal("saddr").verdict("goto "+names.of(svc)).rule())
			if len(plan.LocalEndpoints) > 0 {
				c.rules = append(c.rules, newRule().verdict(gotoChain(names.of(externalTarget))).rule())
			}
		} else {
			c.rules = append(c.rules, newRule().verdict("jump "+markMasqChain).rule(),
				newRule().verdict(gotoChain(names.of(externalTarget))).rule())
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
		out.chains = append(out.chains, chain{name: names.of(fw), rules: append(rules, newRule().verdict("drop").rule())})
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

// slotted reports whether balancing over eps draws an endpoint slot: with
// two endpoints or more and no affinity, which needs a chain per endpoint.
func slotted(sp *netproxy.ServicePort, eps []netproxy.Endpoint) bool {
	return sp.SessionAffinityTimeout == 0 && len(eps) > 1
}

// balance spreads new connections evenly over eps. Without affinity, one
// rule draws one of the endpoints' slots from base on in a shared slot map
// (a map of its own per service would cost the kernel a search through all
// sets of the table for each: 16 s for 10,000 services, measured here).
// With ClientIP affinity, a client seen
// recently goes back to its endpoint first; otherwise the i-th of n
// endpoint chains takes 1/(n-i) of what the earlier ones left, and
// records the client.
func (r *serviceRules) balance(f family, sp *netproxy.ServicePort, eps []netproxy.Endpoint, base uint32) []rule {
	if slotted(sp, eps) {
		m := slotMap(sp.Name)
		r.elements[m] = slices.Grow(r.elements[m], len(eps))
		for i, e := range eps {
			r.elements[m] = append(r.elements[m], element{key: slotKey(base + uint32(i)),
				value: endpointValue(netip.AddrPortFrom(e.IP, uint16(e.Port))), owner: r.owner})
		}
		return []rule{newRule().l4proto(sp.Protocol).dnatSlot(f, len(eps), base, m).rule()}
	}
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
