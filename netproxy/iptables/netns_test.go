package iptables

import (
	"errors"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
)

// rulesPerChain counts "-A CHAIN" lines in restore or save output.
func rulesPerChain(text string) map[string]int {
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^-A (\S+) `).FindAllStringSubmatch(text, -1) {
		out[m[1]]++
	}
	return out
}

// tableSection returns one table's part of restore input.
func tableSection(payload []byte, table string) string {
	s := string(payload)
	start := strings.Index(s, "*"+table+"\n")
	end := strings.Index(s[start:], "COMMIT\n")
	return s[start : start+end]
}

// checkApplied asserts every kite chain in the namespace holds exactly as
// many rules as the full payload for state renders.
func checkApplied(t *testing.T, ns *proxytest.Netns, state *netproxy.State) {
	t.Helper()
	payload := renderer{}.render(state, nil, applied{}, nil).payload
	for _, table := range []string{"nat", "filter"} {
		want := rulesPerChain(tableSection(payload, table))
		got := rulesPerChain(ns.Exec("iptables-save", "-t", table))
		for chain, n := range want {
			if got[chain] != n {
				t.Errorf("%s/%s has %d rules, want %d", table, chain, got[chain], n)
			}
		}
		for chain := range got {
			if serviceChainPattern.MatchString(chain) && want[chain] == 0 {
				t.Errorf("%s/%s left behind", table, chain)
			}
		}
	}
}

func TestBackendInNetns(t *testing.T) {
	proxytest.SkipUnlessRoot(t, "creates a network namespace and writes iptables rules inside it", "ip", "iptables-restore", "iptables-save")
	ns := proxytest.NewNetns(t, "kite-proxy-"+proxytest.RandomSuffix(t))
	// Endpoints live on loopback inside the namespace; the service range
	// needs a route so local clients get as far as the nat OUTPUT hook.
	ns.Exec("ip", "addr", "add", "10.42.0.2/32", "dev", "lo")
	ns.Exec("ip", "addr", "add", "10.42.0.3/32", "dev", "lo")
	ns.Exec("ip", "route", "add", "10.43.0.0/16", "dev", "lo")
	ns.Serve(t, "10.42.0.2:8080", "a")
	ns.Serve(t, "10.42.0.3:8080", "b")

	web := proxytest.ServicePort("web", "http", v1.ProtocolTCP, "10.43.0.5", 80,
		proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.0.3:8080@node-a"),
		func(sp *netproxy.ServicePort) { sp.NodePort = 30080 })
	sticky := proxytest.ServicePort("sticky", "", v1.ProtocolTCP, "10.43.0.6", 80,
		proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.0.3:8080@node-a"),
		func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 600 })
	empty := proxytest.ServicePort("empty", "", v1.ProtocolTCP, "10.43.0.7", 80)
	lb := proxytest.ServicePort("lb", "", v1.ProtocolUDP, "10.43.0.8", 53, proxytest.WithEndpoints("10.42.0.2:53@node-a"),
		func(sp *netproxy.ServicePort) {
			sp.LoadBalancerIPs = proxytest.Addrs("192.0.2.10")
			sp.LoadBalancerSourceRanges = nil
			sp.ExternalPolicyLocal = true
		})
	state := proxytest.State(web, sticky, empty, lb)

	var b *Backend
	must := func(what string, fn func() error) {
		t.Helper()
		if err := ns.Do(fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("new backend", func() (err error) { b, err = New(Config{}); return err })
	t.Cleanup(func() { _ = ns.Do(b.Cleanup) })
	must("full sync", func() error { return b.Sync(state, nil) })
	checkApplied(t, ns, state)

	nat := ns.Exec("iptables-save", "-t", "nat")
	filter := ns.Exec("iptables-save", "-t", "filter")
	for _, want := range []string{
		"-A PREROUTING -m comment --comment \"kite service portals\" -j KITE-SERVICES",
		"-A OUTPUT -m comment --comment \"kite service portals\" -j KITE-SERVICES",
		"-A POSTROUTING -m comment --comment \"kite service postrouting\" -j KITE-PROXY-POSTROUTING",
		"--mode random --probability 0.50000000000",
		"--rcheck --seconds 600 --reap",
	} {
		if !strings.Contains(nat, want) {
			t.Errorf("nat table lacks %q:\n%s", want, nat)
		}
	}
	if !strings.Contains(filter, "--reject-with tcp-reset") || !strings.Contains(filter, "-j KITE-PROXY-FIREWALL") {
		t.Errorf("filter table lacks the rejection or hooks:\n%s", filter)
	}
	if got := strings.TrimSpace(ns.Exec("cat", "/proc/sys/net/ipv4/conf/all/route_localnet")); got != "1" {
		t.Errorf("route_localnet = %s, want 1", got)
	}

	// Traffic: random balancing reaches both endpoints, affinity sticks to
	// one, a node port answers on localhost, no endpoints means refused.
	seen := map[string]int{}
	for range 40 {
		reply, err := ns.Dial("10.43.0.5:80", 3*time.Second)
		if err != nil {
			t.Fatalf("dial cluster IP: %v", err)
		}
		seen[reply]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("40 connections to the cluster IP reached %v, want both endpoints", seen)
	}
	first, err := ns.Dial("10.43.0.6:80", 3*time.Second)
	if err != nil {
		t.Fatalf("dial sticky service: %v", err)
	}
	for range 10 {
		if reply, err := ns.Dial("10.43.0.6:80", 3*time.Second); err != nil || reply != first {
			t.Fatalf("sticky service answered %q (%v), want always %q", reply, err, first)
		}
	}
	if reply, err := ns.Dial("127.0.0.1:30080", 3*time.Second); err != nil || (reply != "a" && reply != "b") {
		t.Errorf("node port on localhost answered %q, %v", reply, err)
	}
	start := time.Now()
	_, err = ns.Dial("10.43.0.7:80", 3*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service without endpoints: got %v, want connection refused", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refusal took %v, want it at once", took)
	}

	// A partial sync: web loses an endpoint; only its chains are touched
	// and the dropped endpoint's chain disappears.
	web2 := proxytest.ServicePort("web", "http", v1.ProtocolTCP, "10.43.0.5", 80,
		proxytest.WithEndpoints("10.42.0.2:8080@node-a"), func(sp *netproxy.ServicePort) { sp.NodePort = 30080 })
	state2 := proxytest.State(web2, sticky, empty, lb)
	must("partial sync", func() error {
		return b.Sync(state2, map[netproxy.ServicePortName]bool{web.Name: true})
	})
	checkApplied(t, ns, state2)
	if strings.Contains(ns.Exec("iptables-save", "-t", "nat"), sepChain(web.Name, web.Endpoints[1])) {
		t.Error("removed endpoint's chain still present")
	}
	for range 10 {
		if reply, err := ns.Dial("10.43.0.5:80", 3*time.Second); err != nil || reply != "a" {
			t.Fatalf("after removing b the cluster IP answered %q, %v", reply, err)
		}
	}

	// A UDP flow to a removed endpoint is forgotten (when the conntrack
	// program is installed), so the client's next datagram is balanced anew.
	if b.conntrack.Path() != "" {
		ns.SendUDP(t, "10.43.0.8:53")
		flows := func() string { return ns.Exec("conntrack", "-L", "-p", "udp", "--orig-dst", "10.43.0.8") }
		if !strings.Contains(flows(), "src=10.42.0.2") {
			t.Fatalf("no conntrack entry for the UDP flow:\n%s", flows())
		}
		lb2 := *lb
		lb2.Endpoints = proxytest.Endpoints("10.42.0.3:53@node-a")
		state2 = proxytest.State(web2, sticky, empty, &lb2)
		must("partial sync of the UDP service", func() error {
			return b.Sync(state2, map[netproxy.ServicePortName]bool{lb.Name: true})
		})
		if out := flows(); strings.Contains(out, "src=10.42.0.2") {
			t.Errorf("flow to the removed endpoint survived:\n%s", out)
		}
	} else {
		t.Log("conntrack program not installed: stale UDP flow removal not exercised")
	}

	// Tampering is repaired by the next full sync, stale chains included.
	ns.Exec("iptables", "-t", "nat", "-F", svcChain(web.Name))
	ns.Exec("iptables", "-t", "nat", "-N", "KITE-SEP-AAAAAAAAAAAAAAAA")
	ns.Exec("iptables", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "kite service portals", "-j", "KITE-SERVICES")
	must("repairing full sync", func() error { return b.Sync(state2, nil) })
	checkApplied(t, ns, state2)
	if !strings.Contains(ns.Exec("iptables-save", "-t", "nat"), "-A PREROUTING -m comment --comment \"kite service portals\" -j KITE-SERVICES") {
		t.Error("full sync did not restore the PREROUTING hook")
	}

	// Cleanup leaves nothing of kite behind.
	must("cleanup", b.Cleanup)
	for _, table := range []string{"nat", "filter"} {
		if out := ns.Exec("iptables-save", "-t", table); strings.Contains(out, "KITE-") {
			t.Errorf("%s table after Cleanup still mentions kite:\n%s", table, out)
		}
	}
	if len(b.applied.chains)+len(b.applied.dispatch) != 0 {
		t.Error("backend still tracks chains after Cleanup")
	}
}
