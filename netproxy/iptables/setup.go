package iptables

import (
	"bytes"
	"fmt"
	"os"
	"slices"
)

// jump is a rule in a built-in chain that sends packets into kite's.
type jump struct {
	table, from string
	rule        []string
}

// jumps lists the hooks, in the order they should appear (each is
// inserted at the top if missing, so kite's rules see packets before
// anything that accepts them early).
func jumps() []jump {
	newConn := []string{"-m", "conntrack", "--ctstate", "NEW"}
	hook := func(table, from, to, why string, extra []string) jump {
		// Arguments go to iptables as they are: no quoting, unlike the
		// restore input's comments.
		return jump{table: table, from: from, rule: match(extra, []string{"-m", "comment", "--comment", why, "-j", to})}
	}
	return []jump{
		hook("nat", "PREROUTING", servicesChain, "kite service portals", nil),
		hook("nat", "OUTPUT", servicesChain, "kite service portals", nil),
		hook("nat", "POSTROUTING", postroutingChain, "kite service postrouting", nil),
		hook("filter", "INPUT", firewallChain, "kite service firewall", nil),
		hook("filter", "INPUT", externalServicesChain, "kite externally visible service portals", newConn),
		hook("filter", "FORWARD", firewallChain, "kite service firewall", nil),
		hook("filter", "FORWARD", servicesChain, "kite service portals", newConn),
		hook("filter", "FORWARD", externalServicesChain, "kite externally visible service portals", newConn),
		hook("filter", "FORWARD", forwardChain, "kite service forwarding", nil),
		hook("filter", "OUTPUT", firewallChain, "kite service firewall", nil),
		hook("filter", "OUTPUT", servicesChain, "kite service portals", newConn),
	}
}

// setup makes sure the hooks exist and that node ports answer on
// 127.0.0.1. It runs after a full restore, so the target chains exist.
func (b *Backend) setup() error {
	hooks := jumps()
	// Inserting at the top in reverse keeps the listed order.
	for i := len(hooks) - 1; i >= 0; i-- {
		j := hooks[i]
		if err := b.ipt.InsertUnique(j.table, j.from, 1, j.rule...); err != nil {
			return fmt.Errorf("add jump from %s/%s: %w", j.table, j.from, err)
		}
	}
	if !b.cfg.IPv6 {
		if err := setSysctl("/proc/sys/net/ipv4/conf/all/route_localnet", "1"); err != nil {
			return err
		}
	}
	return nil
}

// cleanupPayload flushes and deletes every chain the proxy may own.
func (b *Backend) cleanupPayload() ([]byte, error) {
	natChains, err := b.ipt.ListChains("nat")
	if err != nil {
		return nil, fmt.Errorf("list nat chains: %w", err)
	}
	filterChains, err := b.ipt.ListChains("filter")
	if err != nil {
		return nil, fmt.Errorf("list filter chains: %w", err)
	}
	var buf bytes.Buffer
	write := func(table string, present []string, fixed []string) {
		var drop []string
		for _, c := range present {
			if slices.Contains(fixed, c) || serviceChainPattern.MatchString(c) {
				drop = append(drop, c)
			}
		}
		buf.WriteString("*" + table + "\n")
		declare(&buf, drop...)
		for _, c := range drop {
			buf.WriteString("-X " + c + "\n")
		}
		buf.WriteString("COMMIT\n")
	}
	write("filter", filterChains, []string{servicesChain, externalServicesChain, forwardChain, firewallChain})
	write("nat", natChains, []string{servicesChain, nodePortsChain, postroutingChain})
	return buf.Bytes(), nil
}

// setSysctl writes value to a /proc/sys file unless it already holds it.
// Network settings apply to the calling thread's network namespace.
func setSysctl(path, value string) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if string(bytes.TrimSpace(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s to %s: %w", path, value, err)
	}
	return nil
}
