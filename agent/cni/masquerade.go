package cni

import (
	"fmt"
	"log/slog"
	"net"
	"slices"

	"github.com/coreos/go-iptables/iptables"
)

// Chains Masquerade owns, one in the nat and one in the filter table.
const (
	PostroutingChain = "KITE-POSTROUTING"
	ForwardChain     = "KITE-FORWARD"
)

// iptablesWaitSeconds bounds how long an iptables call waits for the xtables
// lock another program (kube-proxy, docker, a CNI plugin) may hold.
const iptablesWaitSeconds = 5

// Masquerade keeps the iptables rules that let pods reach the world: traffic
// from the cluster CIDR to anywhere outside it leaves with the node's
// address, pod-to-pod traffic (across nodes too) keeps its source address,
// and forwarding to and from pods is accepted even under a DROP policy.
type Masquerade struct {
	clusterCIDR *net.IPNet
	ipt         *iptables.IPTables
	log         *slog.Logger
}

// NewMasquerade prepares the rules for clusterCIDR ("10.42.0.0/16"); an
// IPv6 CIDR is handled with ip6tables. Nothing is changed until Setup.
func NewMasquerade(clusterCIDR string) (*Masquerade, error) {
	cidr, err := parseIPv4or6CIDR("cluster CIDR", clusterCIDR)
	if err != nil {
		return nil, err
	}
	proto := iptables.ProtocolIPv4
	if !isIPv4(cidr.IP) {
		proto = iptables.ProtocolIPv6
	}
	ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(iptablesWaitSeconds))
	if err != nil {
		return nil, fmt.Errorf("find iptables: %w", err)
	}
	return &Masquerade{clusterCIDR: cidr, ipt: ipt, log: slog.With("component", "cni")}, nil
}

// iptablesChain is one chain kite owns and the rule that jumps to it from a
// built-in chain.
type iptablesChain struct {
	table, chain string
	rules        [][]string
	from         string   // built-in chain holding the jump
	jump         []string // the jump rule
	jumpFirst    bool     // insert the jump at the top instead of appending it
}

// chains returns the desired rules.
func (m *Masquerade) chains() []iptablesChain {
	cidr := m.clusterCIDR.String()
	multicast := "224.0.0.0/4"
	if !isIPv4(m.clusterCIDR.IP) {
		multicast = "ff00::/8"
	}
	masquerade := []string{"-s", cidr, "!", "-d", multicast, "-m", "comment", "--comment", "kite: pods reaching outside the cluster", "-j", "MASQUERADE"}
	if m.ipt.HasRandomFully() {
		masquerade = append(masquerade, "--random-fully")
	}
	return []iptablesChain{
		{
			table: "nat", chain: PostroutingChain,
			rules: [][]string{
				{"-s", cidr, "-d", cidr, "-m", "comment", "--comment", "kite: pod-to-pod traffic keeps its source", "-j", "RETURN"},
				masquerade,
			},
			from: "POSTROUTING",
			jump: []string{"-m", "comment", "--comment", "kite: pod masquerading", "-j", PostroutingChain},
			// First, so that no earlier ACCEPT in POSTROUTING keeps pod
			// traffic from being masqueraded.
			jumpFirst: true,
		},
		{
			table: "filter", chain: ForwardChain,
			rules: [][]string{
				{"-s", cidr, "-m", "comment", "--comment", "kite: traffic from pods", "-j", "ACCEPT"},
				{"-d", cidr, "-m", "comment", "--comment", "kite: traffic to pods", "-j", "ACCEPT"},
			},
			from: "FORWARD",
			jump: []string{"-m", "comment", "--comment", "kite: pod forwarding", "-j", ForwardChain},
			// Appended, so rejections that Service proxies insert into
			// FORWARD still come first; ours only rescue pod traffic from a
			// DROP policy.
			jumpFirst: false,
		},
	}
}

// Setup enables IP forwarding and bridge netfilter and brings the rules to
// the desired state. It is idempotent: rules already in place are left
// alone, so it can run at every agent start.
func (m *Masquerade) Setup() error {
	if err := enableForwarding(!isIPv4(m.clusterCIDR.IP)); err != nil {
		return err
	}
	if err := enableBridgeNetfilter(!isIPv4(m.clusterCIDR.IP)); err != nil {
		// Pods still work; only Services reached from a pod on the same
		// bridge need the bridge to pass traffic through iptables.
		m.log.Warn("bridged pod traffic will bypass iptables; Services may not work between pods on this node", "err", err)
	}
	for _, c := range m.chains() {
		if err := m.syncChain(c); err != nil {
			return err
		}
	}
	m.log.Info("pod masquerading in place", "clusterCIDR", m.clusterCIDR.String())
	return nil
}

// syncChain makes c.chain hold exactly c.rules, rewriting it only when a
// rule is missing or an extra one crept in, and makes sure the jump exists.
func (m *Masquerade) syncChain(c iptablesChain) error {
	exists, err := m.ipt.ChainExists(c.table, c.chain)
	if err != nil {
		return fmt.Errorf("check chain %s/%s: %w", c.table, c.chain, err)
	}
	inSync := false
	if exists {
		if inSync, err = m.chainHolds(c); err != nil {
			return err
		}
	}
	if !inSync {
		// ClearChain creates the chain when missing, else flushes it.
		if err := m.ipt.ClearChain(c.table, c.chain); err != nil {
			return fmt.Errorf("reset chain %s/%s: %w", c.table, c.chain, err)
		}
		for _, rule := range c.rules {
			if err := m.ipt.Append(c.table, c.chain, rule...); err != nil {
				return fmt.Errorf("add rule to %s/%s: %w", c.table, c.chain, err)
			}
		}
	}
	if c.jumpFirst {
		err = m.ipt.InsertUnique(c.table, c.from, 1, c.jump...)
	} else {
		err = m.ipt.AppendUnique(c.table, c.from, c.jump...)
	}
	if err != nil {
		return fmt.Errorf("add jump from %s/%s to %s: %w", c.table, c.from, c.chain, err)
	}
	return nil
}

// chainHolds reports whether the chain has exactly the desired rules.
func (m *Masquerade) chainHolds(c iptablesChain) (bool, error) {
	listed, err := m.ipt.List(c.table, c.chain)
	if err != nil {
		return false, fmt.Errorf("list chain %s/%s: %w", c.table, c.chain, err)
	}
	// The first line of `iptables -S CHAIN` declares the chain itself.
	rules := slices.DeleteFunc(listed, func(line string) bool { return line == "-N "+c.chain })
	if len(rules) != len(c.rules) {
		return false, nil
	}
	for _, rule := range c.rules {
		ok, err := m.ipt.Exists(c.table, c.chain, rule...)
		if err != nil {
			return false, fmt.Errorf("check rule in %s/%s: %w", c.table, c.chain, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// Cleanup removes every rule and chain Setup created. Kernel settings
// (forwarding, bridge netfilter) stay: other software may rely on them.
func (m *Masquerade) Cleanup() error {
	var errs []error
	for _, c := range m.chains() {
		// A jump cannot outlive its target chain, so a missing chain means
		// there is nothing to remove (and checking the jump would fail).
		exists, err := m.ipt.ChainExists(c.table, c.chain)
		if err != nil {
			errs = append(errs, fmt.Errorf("check chain %s/%s: %w", c.table, c.chain, err))
			continue
		}
		if !exists {
			continue
		}
		if err := m.ipt.DeleteIfExists(c.table, c.from, c.jump...); err != nil {
			errs = append(errs, fmt.Errorf("remove jump from %s/%s: %w", c.table, c.from, err))
			continue
		}
		if err := m.ipt.ClearAndDeleteChain(c.table, c.chain); err != nil {
			errs = append(errs, fmt.Errorf("remove chain %s/%s: %w", c.table, c.chain, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("clean up pod masquerading: %v", errs)
	}
	return nil
}
