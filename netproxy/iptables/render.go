package iptables

import (
	"bytes"
	"net/netip"
	"slices"

	"kite/netproxy"
)

// renderer turns a State into iptables-restore input for one IP family.
type renderer struct {
	family      family
	randomFully bool // the kernel and iptables support MASQUERADE --random-fully
}

// rendered is one sync's restore input, the per-service chains that exist
// once it is applied and the contents of the shared chains.
type rendered struct {
	payload []byte
	stale   []string
	applied applied
}

// applied is what the kernel holds after the last successful restore,
// as far as the next partial sync needs to know.
type applied struct {
	chains   map[netproxy.ServicePortName][]string // per-service chains
	dispatch map[string][]string                   // "table/chain" → the shared chain's rules
	// services keeps each service port's part of the shared chains, so a
	// partial sync renders only the changed ones again.
	services map[netproxy.ServicePortName]*serviceRules
}

// render writes the per-service chains of the changed service ports and
// the shared chains whose rules differ from prev's (everything when
// changed is nil). Leaving an unchanged shared chain out matters: at
// 10,000 Services, rewriting KITE-SERVICES alone costs iptables-restore
// more than a second. prev describes what is in place before this sync;
// existing, read from the kernel on a full sync, catches chains an
// earlier run left behind.
func (r renderer) render(state *netproxy.State, changed map[netproxy.ServicePortName]bool,
	prev applied, existing []string) rendered {
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
	var hairpin []netip.Addr
	n := len(state.Services)
	out := rendered{applied: applied{
		chains:   make(map[netproxy.ServicePortName][]string, n),
		dispatch: map[string][]string{},
		services: make(map[netproxy.ServicePortName]*serviceRules, n),
	}}
	chains := out.applied.chains
	for _, sp := range state.Sorted() {
		write := full || changed[sp.Name]
		rs := prev.services[sp.Name]
		if write || rs == nil {
			if rs = renderService(sp, r.family, podCIDR, write); rs == nil {
				continue
			}
			shared := *rs
			shared.chains = nil
			out.applied.services[sp.Name] = &shared
		} else {
			out.applied.services[sp.Name] = rs
		}
		natServices = append(natServices, rs.natServices...)
		natNodePorts = append(natNodePorts, rs.natNodePorts...)
		filterServices = append(filterServices, rs.filterServices...)
		filterExternal = append(filterExternal, rs.filterExternal...)
		hairpin = append(hairpin, rs.hairpin...)
		if !write {
			if names, ok := prev.chains[sp.Name]; ok {
				chains[sp.Name] = names
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
			chains[sp.Name] = names
		}
	}

	// Chains no longer wanted: every per-service chain in the kernel on a
	// full sync, the changed service ports' former chains otherwise.
	wanted := map[string]bool{}
	for _, names := range chains {
		for _, n := range names {
			wanted[n] = true
		}
	}
	candidates := existing
	if !full {
		candidates = nil
		for name := range changed {
			candidates = append(candidates, prev.chains[name]...)
		}
	} else {
		for _, names := range prev.chains {
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

	natServices = append(natServices, r.nodePortsJump())
	tables := []struct {
		name     string
		dispatch []dispatchChain
	}{
		{"filter", []dispatchChain{
			{servicesChain, filterServices},
			{externalServicesChain, filterExternal},
			{forwardChain, r.forwardRules()},
			{firewallChain, r.firewallRules()},
		}},
		{"nat", []dispatchChain{
			{servicesChain, natServices},
			{nodePortsChain, natNodePorts},
			{postroutingChain, r.postroutingRules(hairpin)},
		}},
	}
	var b bytes.Buffer
	b.Grow(size(chainRules) + 4096)
	for _, t := range tables {
		var write []dispatchChain
		for _, d := range t.dispatch {
			key := t.name + "/" + d.name
			out.applied.dispatch[key] = d.rules
			// Unchanged service ports reuse their previous strings, so
			// comparing is cheap.
			if old, ok := prev.dispatch[key]; full || !ok || !slices.Equal(old, d.rules) {
				write = append(write, d)
				b.Grow(size(d.rules))
			}
		}
		b.WriteString("*" + t.name + "\n")
		for _, d := range write {
			declare(&b, d.name)
		}
		if t.name == "nat" {
			declare(&b, chainNames...)
			declare(&b, out.stale...)
		}
		for _, d := range write {
			lines(&b, d.rules)
		}
		if t.name == "nat" {
			lines(&b, chainRules)
			for _, n := range out.stale {
				b.WriteString("-X " + n + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	out.payload = b.Bytes()
	return out
}

// dispatchChain is one of the shared chains and its rules.
type dispatchChain struct {
	name  string
	rules []string
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

// postroutingRules masquerade what the service chains marked, and a pod
// that reached itself through a service (hairpin): its reply would
// otherwise go straight back to it, bypassing the translation. hairpin
// lists the endpoints on this node, possibly repeated.
func (r renderer) postroutingRules(hairpin []netip.Addr) []string {
	slices.SortFunc(hairpin, netip.Addr.Compare)
	hairpin = slices.Compact(hairpin)
	var out []string
	for _, ip := range hairpin {
		if ip.Is6() != r.family.ipv6 {
			continue
		}
		h := r.family.host(ip)
		out = append(out, rule(postroutingChain, match([]string{"-s", h, "-d", h, "-m", "conntrack", "--ctstate", "DNAT"},
			comment("kite service hairpin"), markMasq())...))
	}
	masq := []string{"-j", "MASQUERADE"}
	if r.randomFully {
		masq = append(masq, "--random-fully")
	}
	return append(out,
		rule(postroutingChain, "-m", "mark", "!", "--mark", masqMark+"/"+masqMark, "-j", "RETURN"),
		// Clear the mark so a packet re-entering the stack (hairpin on a
		// bridge) is not masqueraded twice.
		rule(postroutingChain, "-j", "MARK", "--xor-mark", masqMark),
		rule(postroutingChain, match(comment("kite service traffic requiring SNAT"), masq)...),
	)
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

// size is how many bytes lines writes for rules.
func size(rules []string) int {
	n := 0
	for _, l := range rules {
		n += len(l) + 1
	}
	return n
}

func lines(b *bytes.Buffer, rules []string) {
	for _, l := range rules {
		b.WriteString(l)
		b.WriteByte('\n')
	}
}
