package cni

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-iptables/iptables"
)

// TestMasqueradeRules sets up, repairs and removes the rules inside a
// throwaway namespace; the host's own rules are never touched.
func TestMasqueradeRules(t *testing.T) {
	requireRoot(t)
	if _, err := iptables.New(); err != nil {
		t.Skipf("iptables not available: %v", err)
	}
	hostForward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	ns := newNetns(t)

	err = inNetns(t, ns, func() error {
		m, err := NewMasquerade("10.99.0.0/16")
		if err != nil {
			return err
		}
		ipt := m.ipt
		if err := m.Setup(); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if err := checkRules(ipt, true); err != nil {
			return fmt.Errorf("after setup: %w", err)
		}
		if v, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err != nil || strings.TrimSpace(string(v)) != "1" {
			return fmt.Errorf("ip_forward in the namespace = %q (%v), want 1", v, err)
		}

		// A second Setup changes nothing: still exactly one jump each.
		if err := m.Setup(); err != nil {
			return fmt.Errorf("second setup: %w", err)
		}
		if err := checkRules(ipt, true); err != nil {
			return fmt.Errorf("after second setup: %w", err)
		}

		// A rule deleted by hand and a stray one added are both repaired.
		if err := ipt.Delete("nat", PostroutingChain, m.chains()[0].rules[0]...); err != nil {
			return err
		}
		if err := ipt.Append("filter", ForwardChain, "-s", "192.0.2.0/24", "-j", "DROP"); err != nil {
			return err
		}
		if err := m.Setup(); err != nil {
			return fmt.Errorf("repairing setup: %w", err)
		}
		if err := checkRules(ipt, true); err != nil {
			return fmt.Errorf("after repair: %w", err)
		}

		if err := m.Cleanup(); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		if err := checkRules(ipt, false); err != nil {
			return fmt.Errorf("after cleanup: %w", err)
		}
		// Cleanup of nothing is fine too.
		return m.Cleanup()
	})
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(hostForward) {
		t.Errorf("host ip_forward changed from %q to %q", hostForward, now)
	}
}

// checkRules compares the kite chains and jumps with what Setup writes
// (present) or with nothing at all (!present).
func checkRules(ipt *iptables.IPTables, present bool) error {
	want := map[string][]string{
		"nat/" + PostroutingChain: {
			`-A KITE-POSTROUTING -s 10.99.0.0/16 -d 10.99.0.0/16 -m comment --comment "kite: pod-to-pod traffic keeps its source" -j RETURN`,
			`-A KITE-POSTROUTING -s 10.99.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "kite: pods reaching outside the cluster" -j MASQUERADE`,
		},
		"filter/" + ForwardChain: {
			`-A KITE-FORWARD -s 10.99.0.0/16 -m comment --comment "kite: traffic from pods" -j ACCEPT`,
			`-A KITE-FORWARD -d 10.99.0.0/16 -m comment --comment "kite: traffic to pods" -j ACCEPT`,
		},
	}
	for _, tc := range []struct{ table, chain, builtin, jump string }{
		{"nat", PostroutingChain, "POSTROUTING", `-A POSTROUTING -m comment --comment "kite: pod masquerading" -j KITE-POSTROUTING`},
		{"filter", ForwardChain, "FORWARD", `-A FORWARD -m comment --comment "kite: pod forwarding" -j KITE-FORWARD`},
	} {
		exists, err := ipt.ChainExists(tc.table, tc.chain)
		if err != nil {
			return err
		}
		if exists != present {
			return fmt.Errorf("chain %s/%s exists = %v, want %v", tc.table, tc.chain, exists, present)
		}
		if present {
			rules, err := ipt.List(tc.table, tc.chain)
			if err != nil {
				return err
			}
			rules = slices.DeleteFunc(rules, func(r string) bool { return strings.HasPrefix(r, "-N ") })
			// --random-fully shows up when this iptables supports it.
			for i := range rules {
				rules[i] = strings.TrimSuffix(rules[i], " --random-fully")
			}
			if !slices.Equal(rules, want[tc.table+"/"+tc.chain]) {
				return fmt.Errorf("chain %s/%s = %q, want %q", tc.table, tc.chain, rules, want[tc.table+"/"+tc.chain])
			}
		}
		builtin, err := ipt.List(tc.table, tc.builtin)
		if err != nil {
			return err
		}
		jumps := 0
		for _, r := range builtin {
			if r == tc.jump {
				jumps++
			}
		}
		if wantJumps := map[bool]int{true: 1, false: 0}[present]; jumps != wantJumps {
			return fmt.Errorf("%s/%s has %d jumps to %s, want %d: %q", tc.table, tc.builtin, jumps, tc.chain, wantJumps, builtin)
		}
	}
	return nil
}

func TestNewMasqueradeRejectsBadCIDR(t *testing.T) {
	for _, cidr := range []string{"", "10.42.0.0", "10.42.0.1/16", "nonsense"} {
		if _, err := NewMasquerade(cidr); err == nil {
			t.Errorf("NewMasquerade(%q) succeeded", cidr)
		}
	}
}
