package netproxy

import (
	"net/netip"
	"slices"
)

// Chain names one of the per-service-port chains a data path may build.
// Backends map each to a chain name of their own.
type Chain uint8

const (
	// ServiceChain balances over the cluster endpoints.
	ServiceChain Chain = iota + 1
	// LocalChain balances over the endpoints on this node.
	LocalChain
	// ExternalChain receives traffic to node ports, external IPs and
	// load-balancer IPs and hands it to the external target.
	ExternalChain
	// FirewallChain checks the load-balancer source ranges before
	// traffic to a load-balancer IP enters the external chain.
	FirewallChain
)

// Plan is what one service port needs in one IP family, independent of the
// data path that renders it: which addresses it answers on, which
// endpoints each kind of traffic goes to and which per-service chains
// exist. Both backends render the same plan, so they make the same choices.
type Plan struct {
	// ClusterIPs, ExternalIPs and LoadBalancerIPs are the service port's
	// addresses in this family; ClusterIPs is never empty.
	ClusterIPs      []netip.Addr
	ExternalIPs     []netip.Addr
	LoadBalancerIPs []netip.Addr

	// HasExternal is set when traffic may come from outside the node: the
	// port has a node port, an external IP or a load-balancer IP.
	HasExternal bool

	// The endpoint sets, chosen among this family's endpoints only (see
	// the ServicePort methods of the same names).
	ClusterEndpoints  []Endpoint
	LocalEndpoints    []Endpoint
	InternalEndpoints []Endpoint // for traffic to the cluster IPs
	ExternalEndpoints []Endpoint // for traffic from outside the node

	// Which per-service chains exist:
	//   - the external chain when HasExternal and some cluster endpoint
	//     exists: traffic from outside is only accepted into it then, and
	//     pods and the node itself reaching an external address are sent
	//     to all endpoints even when none is local;
	//   - the service chain when some cluster endpoint exists and either
	//     the internal policy is Cluster or the external chain needs it;
	//   - the local chain when some local endpoint exists and either the
	//     internal policy is Local or the external chain uses it (external
	//     policy Local);
	//   - the firewall chain when the external chain exists, the port has
	//     load-balancer IPs in this family and the Service lists source
	//     ranges in any family (ranges only in the other family therefore
	//     admit no one).
	UseServiceChain  bool
	UseLocalChain    bool
	UseExternalChain bool
	UseFirewallChain bool

	// InternalTarget is where traffic to a cluster IP with internal
	// endpoints goes, ExternalTarget where the external chain sends
	// traffic from outside: LocalChain for a Local policy, otherwise
	// ServiceChain.
	InternalTarget Chain
	ExternalTarget Chain
}

// PlanFor computes the plan of sp in the IPv6 family (ipv6) or the IPv4
// one. It returns nil when sp has no cluster IP in that family: the port
// then gets no rules there at all.
func (sp *ServicePort) PlanFor(ipv6 bool) *Plan {
	inFamily := func(a netip.Addr) bool { return a.Is6() == ipv6 }
	p := &Plan{ClusterIPs: filterAddrs(sp.ClusterIPs, inFamily)}
	if len(p.ClusterIPs) == 0 {
		return nil
	}
	p.ExternalIPs = filterAddrs(sp.ExternalIPs, inFamily)
	p.LoadBalancerIPs = filterAddrs(sp.LoadBalancerIPs, inFamily)
	p.HasExternal = sp.NodePort != 0 || len(p.ExternalIPs) > 0 || len(p.LoadBalancerIPs) > 0

	// Endpoint choice happens among this family's endpoints only: a ready
	// endpoint in the other family must not hide a terminating one here.
	// Single-family ports, the usual case, need no copy.
	fam := sp
	if slices.ContainsFunc(sp.Endpoints, func(e Endpoint) bool { return !inFamily(e.IP) }) {
		c := *sp
		c.Endpoints = nil
		for _, e := range sp.Endpoints {
			if inFamily(e.IP) {
				c.Endpoints = append(c.Endpoints, e)
			}
		}
		fam = &c
	}
	p.ClusterEndpoints, p.LocalEndpoints = fam.ClusterEndpoints(), fam.LocalEndpoints()
	p.InternalEndpoints, p.ExternalEndpoints = p.ClusterEndpoints, p.ClusterEndpoints
	if sp.InternalPolicyLocal {
		p.InternalEndpoints = p.LocalEndpoints
	}
	if sp.ExternalPolicyLocal {
		p.ExternalEndpoints = p.LocalEndpoints
	}

	p.InternalTarget, p.ExternalTarget = ServiceChain, ServiceChain
	if sp.InternalPolicyLocal {
		p.InternalTarget = LocalChain
	}
	if sp.ExternalPolicyLocal {
		p.ExternalTarget = LocalChain
	}
	hasEndpoints := len(p.ClusterEndpoints) > 0
	p.UseExternalChain = p.HasExternal && hasEndpoints
	p.UseServiceChain = hasEndpoints && (!sp.InternalPolicyLocal || p.UseExternalChain)
	p.UseLocalChain = len(p.LocalEndpoints) > 0 && (sp.InternalPolicyLocal || (p.UseExternalChain && sp.ExternalPolicyLocal))
	p.UseFirewallChain = p.UseExternalChain && len(p.LoadBalancerIPs) > 0 && len(sp.LoadBalancerSourceRanges) > 0
	return p
}

// TranslatedEndpoints lists the endpoints the service and local chains
// balance over, in that order; an endpoint in both appears twice.
func (p *Plan) TranslatedEndpoints() []Endpoint {
	var out []Endpoint
	if p.UseServiceChain {
		out = append(out, p.ClusterEndpoints...)
	}
	if p.UseLocalChain {
		out = append(out, p.LocalEndpoints...)
	}
	return out
}

func filterAddrs(in []netip.Addr, keep func(netip.Addr) bool) []netip.Addr {
	var out []netip.Addr
	for _, a := range in {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}
