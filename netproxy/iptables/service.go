package iptables

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
)

// chain is one per-service chain and its rules.
type chain struct {
	name  string
	rules []string
}

// serviceRules is what one service port contributes: rules in the shared
// dispatch chains (rewritten at every sync) and chains of its own
// (rewritten only when the service port changed).
type serviceRules struct {
	natServices    []string
	natNodePorts   []string
	filterServices []string
	filterExternal []string
	chains         []chain // nat table
	// hairpin lists the endpoints on this node that a pod may reach
	// through this service port from its own address.
	hairpin []netip.Addr
}

// family is the IP family a backend handles.
type family struct{ ipv6 bool }

func (f family) host(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

// localnet is the loopback network, reachable for node ports only in IPv4
// (route_localnet has no IPv6 counterpart).
func (f family) localnet() string {
	if f.ipv6 {
		return "::1/128"
	}
	return "127.0.0.0/8"
}

func (f family) rejectWith(p v1.Protocol) string {
	switch {
	case p == v1.ProtocolTCP:
		return "tcp-reset"
	case f.ipv6:
		return "icmp6-port-unreachable"
	}
	return "icmp-port-unreachable"
}

// rule renders "-A chain args..." as one restore line.
func rule(chainName string, args ...string) string {
	return "-A " + chainName + " " + strings.Join(args, " ")
}

func comment(text string) []string {
	return []string{"-m", "comment", "--comment", strconv.Quote(text)}
}

// match joins argument groups into one argument list.
func match(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func proto(p v1.Protocol) []string {
	name := strings.ToLower(string(p))
	return []string{"-p", name, "-m", name}
}

func dport(port int32) []string { return []string{"--dport", strconv.Itoa(int(port))} }

// markMasq and markDrop set the marks in place rather than jumping to a
// chain that sets them: iptables-restore on nf_tables spends far longer on
// a rule that jumps to a chain of its own than on one with a target, which
// at 10,000 Services is seconds of every full sync.
func markMasq() []string { return []string{"-j", "MARK", "--or-mark", masqMark} }
func markDrop() []string { return []string{"-j", "MARK", "--or-mark", dropMark} }

// dnat sends a connection to endpoint e.
func dnat(e netproxy.Endpoint) []string {
	return []string{"-j", "DNAT", "--to-destination", e.String()}
}

// renderService computes the rules for one service port in family f.
// withChains false skips its own chains (for service ports a partial sync
// leaves alone). It returns nil when the port has no address in f.
func renderService(sp *netproxy.ServicePort, f family, podCIDR string, withChains bool) *serviceRules {
	plan := sp.PlanFor(f.ipv6)
	if plan == nil {
		return nil
	}
	name := sp.Name
	svc, svl, ext, fw := svcChain(name), svlChain(name), extChain(name), fwChain(name)
	chainNames := [...]string{netproxy.ServiceChain: svc, netproxy.LocalChain: svl, netproxy.ExternalChain: ext, netproxy.FirewallChain: fw}
	internalTarget, externalTarget := chainNames[plan.InternalTarget], chainNames[plan.ExternalTarget]
	pm := proto(sp.Protocol)
	who := name.String()

	out := &serviceRules{}
	for _, e := range plan.TranslatedEndpoints() {
		// An endpoint without a node may be anywhere, this node included.
		if e.Local || e.NodeName == "" {
			out.hairpin = append(out.hairpin, e.IP)
		}
	}
	// Rejections: with no endpoint at all the client learns at once; with
	// endpoints elsewhere only, a Local policy drops like upstream does.
	unreachable, why := verdict(f, sp.Protocol, len(plan.ClusterEndpoints) == 0)

	for _, ip := range plan.ClusterIPs {
		dst := match([]string{"-d", f.host(ip)}, pm, dport(sp.Port))
		if len(plan.InternalEndpoints) > 0 {
			out.natServices = append(out.natServices, rule(servicesChain, match(dst, comment(who+" cluster IP"), []string{"-j", internalTarget})...))
		} else {
			out.filterServices = append(out.filterServices, rule(servicesChain, match(dst, comment(who+why), unreachable)...))
		}
	}
	externalEntry := ext
	for _, ip := range plan.ExternalIPs {
		dst := match([]string{"-d", f.host(ip)}, pm, dport(sp.Port))
		if plan.UseExternalChain {
			out.natServices = append(out.natServices, rule(servicesChain, match(dst, comment(who+" external IP"), []string{"-j", externalEntry})...))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.filterExternal = append(out.filterExternal, rule(externalServicesChain, match(dst, comment(who+why), unreachable)...))
		}
	}
	if plan.UseFirewallChain {
		externalEntry = fw
	}
	for _, ip := range plan.LoadBalancerIPs {
		dst := match([]string{"-d", f.host(ip)}, pm, dport(sp.Port))
		if plan.UseExternalChain {
			out.natServices = append(out.natServices, rule(servicesChain, match(dst, comment(who+" load balancer IP"), []string{"-j", externalEntry})...))
		}
		if len(plan.ExternalEndpoints) == 0 {
			out.filterExternal = append(out.filterExternal, rule(externalServicesChain, match(dst, comment(who+why), unreachable)...))
		}
	}
	if sp.NodePort != 0 {
		np := match(pm, dport(sp.NodePort))
		if plan.UseExternalChain {
			out.natNodePorts = append(out.natNodePorts, rule(nodePortsChain, match(np, comment(who+" node port"), []string{"-j", ext})...))
		}
		if len(plan.ExternalEndpoints) == 0 {
			local := []string{"-m", "addrtype", "--dst-type", "LOCAL"}
			out.filterExternal = append(out.filterExternal, rule(externalServicesChain, match(local, np, comment(who+why), unreachable)...))
		}
	}
	if !withChains {
		return out
	}

	if plan.UseServiceChain {
		c := chain{name: svc}
		if podCIDR != "" {
			// Replies from an endpoint must come back through this node
			// when the client is not a pod.
			for _, ip := range plan.ClusterIPs {
				c.rules = append(c.rules, rule(svc, match([]string{"-d", f.host(ip)}, pm, dport(sp.Port), []string{"!", "-s", podCIDR},
					comment(who+" cluster IP from outside the pod network"), markMasq())...))
			}
		}
		c.rules = append(c.rules, balance(svc, sp, plan.ClusterEndpoints)...)
		out.chains = append(out.chains, c)
	}
	if plan.UseLocalChain {
		out.chains = append(out.chains, chain{name: svl, rules: balance(svl, sp, plan.LocalEndpoints)})
	}
	if plan.UseExternalChain {
		c := chain{name: ext}
		if sp.ExternalPolicyLocal {
			// Local keeps the client's address, so no masquerading; pods
			// and the node itself still reach any endpoint.
			if podCIDR != "" {
				c.rules = append(c.rules, rule(ext, match([]string{"-s", podCIDR}, comment("pod traffic for "+who+" external destinations"), []string{"-j", svc})...))
			}
			srcLocal := []string{"-m", "addrtype", "--src-type", "LOCAL"}
			c.rules = append(c.rules,
				rule(ext, match(srcLocal, comment("masquerade node traffic for "+who+" external destinations"), markMasq())...),
				rule(ext, match(srcLocal, comment("route node traffic for "+who+" external destinations"), []string{"-j", svc})...))
			if len(plan.LocalEndpoints) > 0 {
				c.rules = append(c.rules, rule(ext, "-j", externalTarget))
			}
		} else {
			c.rules = append(c.rules,
				rule(ext, match(comment("masquerade traffic for "+who+" external destinations"), markMasq())...),
				rule(ext, "-j", externalTarget))
		}
		out.chains = append(out.chains, c)
	}
	if plan.UseFirewallChain {
		c := chain{name: fw}
		for _, r := range sp.LoadBalancerSourceRanges {
			if r.Addr().Is6() != f.ipv6 {
				continue
			}
			c.rules = append(c.rules, rule(fw, match([]string{"-s", r.String()}, comment(who+" load balancer source range"), []string{"-j", ext})...))
		}
		c.rules = append(c.rules, rule(fw, match(comment(who+" outside the load balancer source ranges"), markDrop())...))
		out.chains = append(out.chains, c)
	}
	if sp.SessionAffinityTimeout > 0 {
		out.chains = append(out.chains, endpointChains(sp, plan)...)
	}
	return out
}

// verdict is the filter target for traffic with nowhere to go.
func verdict(f family, p v1.Protocol, noEndpoints bool) ([]string, string) {
	if noEndpoints {
		return []string{"-j", "REJECT", "--reject-with", f.rejectWith(p)}, " has no endpoints"
	}
	return []string{"-j", "DROP"}, " has no local endpoints"
}

// balance spreads new connections evenly: the i-th of n endpoints takes
// 1/(n-i) of what the earlier ones left. Without session affinity each
// rule translates the connection itself; with ClientIP affinity, a client
// seen recently goes back to its endpoint first, and each endpoint has a
// chain of its own that records the client.
func balance(chainName string, sp *netproxy.ServicePort, eps []netproxy.Endpoint) []string {
	var rules []string
	who := sp.Name.String()
	affinity := sp.SessionAffinityTimeout > 0
	if affinity {
		for _, e := range eps {
			sep := sepChain(sp.Name, e)
			rules = append(rules, rule(chainName, match(comment(who+" -> "+e.String()),
				[]string{"-m", "recent", "--name", sep, "--rcheck", "--seconds", strconv.Itoa(int(sp.SessionAffinityTimeout)), "--reap", "-j", sep})...))
		}
	}
	for i, e := range eps {
		args := comment(who + " -> " + e.String())
		if !affinity {
			args = append(args, proto(sp.Protocol)...)
		}
		if left := len(eps) - i; left > 1 {
			args = append(args, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%0.10f", 1/float64(left)))
		}
		if affinity {
			args = append(args, "-j", sepChain(sp.Name, e))
		} else {
			args = append(args, dnat(e)...)
		}
		rules = append(rules, rule(chainName, args...))
	}
	return rules
}

// endpointChains are the per-endpoint chains of a service port with
// session affinity: each records the client for its endpoint and
// translates the connection.
func endpointChains(sp *netproxy.ServicePort, plan *netproxy.Plan) []chain {
	var out []chain
	seen := map[string]bool{}
	for _, e := range plan.TranslatedEndpoints() {
		sep := sepChain(sp.Name, e)
		if seen[sep] {
			continue
		}
		seen[sep] = true
		out = append(out, chain{name: sep, rules: []string{
			rule(sep, match(comment(sp.Name.String()), proto(sp.Protocol), []string{"-m", "recent", "--name", sep, "--set"}, dnat(e))...),
		}})
	}
	return out
}
