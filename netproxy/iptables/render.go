package iptables

import (
	"bytes"
	"slices"

	"kite/netproxy"
)

// renderer turns a State into iptables-restore input for one IP family.
type renderer struct {
	family      family
	randomFully bool // the kernel and iptables support MASQUERADE --random-fully
}

// rendered is one sync's restore input and the per-service chains that
// exist once it is applied.
type rendered struct {
	payload []byte
	chains  map[netproxy.ServicePortName][]string
	stale   []string
}

// render writes the dispatch chains in full and the per-service chains of
// the changed service ports (all of them when changed is nil). prev holds
// the per-service chains in place before this sync; existing, read from
// the kernel on a full sync, catches chains an earlier run left behind.
func (r renderer) render(state *netproxy.State, changed map[netproxy.ServicePortName]bool,
	prev map[netproxy.ServicePortName][]string, existing []string) rendered {
	full := changed == nil
	podCIDR := ""
	for _, p := range state.ClusterCIDRs {
		if p.Addr().Is6() == r.family.ipv6 {
			podCIDR = p.String()
			break
		}
	}

	var natServices, natNodePorts, filterServices, filterExternal, chainNames []string
	var chainRules []string
	out := rendered{chains: map[netproxy.ServicePortName][]string{}}
	for _, sp := range state.Sorted() {
		write := full || changed[sp.Name]
		rs := renderService(sp, r.family, podCIDR, write)
		if rs == nil {
			continue
		}
		natServices = append(natServices, rs.natServices...)
		natNodePorts = append(natNodePorts, rs.natNodePorts...)
		filterServices = append(filterServices, rs.filterServices...)
		filterExternal = append(filterExternal, rs.filterExternal...)
		if !write {
			if names, ok := prev[sp.Name]; ok {
				out.chains[sp.Name] = names
			}
			continue
		}
		var names []string
		for _, c := range rs.chains {
			names = append(names, c.name)
			chainNames = append(chainNames, c.name)
			chainRules = append(chainRules, c.rules...)
		}
		if names != nil {
			out.chains[sp.Name] = names
		}
	}

	// Chains no longer wanted: every per-service chain in the kernel on a
	// full sync, the changed service ports' former chains otherwise.
	wanted := map[string]bool{}
	for _, names := range out.chains {
		for _, n := range names {
			wanted[n] = true
		}
	}
	candidates := existing
	if !full {
		candidates = nil
		for name := range changed {
			candidates = append(candidates, prev[name]...)
		}
	} else {
		for _, names := range prev {
			candidates = append(candidates, names...)
		}
	}
	for _, n := range candidates {
		if serviceChainPattern.MatchString(n) && !wanted[n] {
			out.stale = append(out.stale, n)
		}
	}
	slices.Sort(out.stale)
	out.stale = slices.Compact(out.stale)

	var b bytes.Buffer
	b.WriteString("*filter\n")
	declare(&b, servicesChain, externalServicesChain, forwardChain, firewallChain)
	lines(&b, filterServices)
	lines(&b, filterExternal)
	lines(&b, r.forwardRules())
	lines(&b, r.firewallRules())
	b.WriteString("COMMIT\n*nat\n")
	declare(&b, servicesChain, nodePortsChain, postroutingChain, markMasqChain, markDropChain)
	declare(&b, chainNames...)
	declare(&b, out.stale...)
	lines(&b, natServices)
	lines(&b, []string{r.nodePortsJump()})
	lines(&b, natNodePorts)
	lines(&b, r.postroutingRules())
	lines(&b, []string{
		rule(markMasqChain, "-j", "MARK", "--or-mark", masqMark),
		rule(markDropChain, "-j", "MARK", "--or-mark", dropMark),
	})
	lines(&b, chainRules)
	for _, n := range out.stale {
		b.WriteString("-X " + n + "\n")
	}
	b.WriteString("COMMIT\n")
	out.payload = b.Bytes()
	return out
}

// nodePortsJump comes last in KITE-SERVICES: whatever is addressed to the
// node itself may be a node port.
func (r renderer) nodePortsJump() string {
	args := match(comment("kite service node ports; must be last"))
	if r.family.ipv6 {
		args = append(args, "!", "-d", r.family.localnet())
	}
	return rule(servicesChain, match(args, []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", nodePortsChain})...)
}

func (r renderer) postroutingRules() []string {
	masq := []string{"-j", "MASQUERADE"}
	if r.randomFully {
		masq = append(masq, "--random-fully")
	}
	return []string{
		rule(postroutingChain, "-m", "mark", "!", "--mark", masqMark+"/"+masqMark, "-j", "RETURN"),
		// Clear the mark so a packet re-entering the stack (hairpin on a
		// bridge) is not masqueraded twice.
		rule(postroutingChain, "-j", "MARK", "--xor-mark", masqMark),
		rule(postroutingChain, match(comment("kite service traffic requiring SNAT"), masq)...),
	}
}

// forwardRules accept forwarded service traffic even under a DROP policy.
func (r renderer) forwardRules() []string {
	return []string{
		rule(forwardChain, match(comment("kite service traffic marked for masquerading"), []string{"-m", "mark", "--mark", masqMark + "/" + masqMark, "-j", "ACCEPT"})...),
		rule(forwardChain, match(comment("kite service replies"), []string{"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"})...),
	}
}

// firewallRules drop what load-balancer source ranges refused and, in
// IPv4, packets from elsewhere to 127.0.0.0/8, which route_localnet (needed
// for node ports on localhost) would otherwise let in.
func (r renderer) firewallRules() []string {
	out := []string{
		rule(firewallChain, match(comment("kite load balancer source ranges"), []string{"-m", "mark", "--mark", dropMark + "/" + dropMark, "-j", "DROP"})...),
	}
	if !r.family.ipv6 {
		ln := r.family.localnet()
		out = append(out, rule(firewallChain, match(comment("kite: block incoming localnet connections"),
			[]string{"-d", ln, "!", "-s", ln, "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"})...))
	}
	return out
}

func declare(b *bytes.Buffer, names ...string) {
	for _, n := range names {
		b.WriteString(":" + n + " - [0:0]\n")
	}
}

func lines(b *bytes.Buffer, rules []string) {
	for _, l := range rules {
		b.WriteString(l)
		b.WriteByte('\n')
	}
}
