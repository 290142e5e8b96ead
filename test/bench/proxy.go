package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/iptables"
	"kite/netproxy/nftables"
)

// proxyBenchNetns is where the proxy benchmark writes its rules, never the
// host's own tables.
const proxyBenchNetns = "kite-bench-proxy"

// benchProxy prints the service proxy's data-path figures at services
// Services × 5 endpoints (10,000 in the goals), for each
// --proxy-mode: the first full sync, a
// later full sync (the periodic resync), one endpoint changed (a partial
// sync), and removing everything, each measured until the kernel has it.
// The backends run in a network namespace of their own.
func benchProxy(services int, modes []string) {
	const endpoints = 5
	_ = exec.Command("ip", "netns", "del", proxyBenchNetns).Run()
	if out, err := exec.Command("ip", "netns", "add", proxyBenchNetns).CombinedOutput(); err != nil {
		fail(fmt.Errorf("ip netns add: %v: %s", err, out))
	}
	defer func() { _ = exec.Command("ip", "netns", "del", proxyBenchNetns).Run() }()

	state := proxyBenchState(services, endpoints, 0)
	changedState := proxyBenchState(services, endpoints, 1)
	one := map[netproxy.ServicePortName]bool{proxyBenchName(0): true}
	log := slog.New(slog.DiscardHandler)
	for _, mode := range modes {
		err := inNetns(proxyBenchNetns, func() error {
			var backend netproxy.Backend
			var err error
			switch mode {
			case "iptables":
				backend, err = iptables.New(iptables.Config{Logger: log})
			case "nftables":
				backend, err = nftables.New(nftables.Config{Logger: log})
			default:
				err = fmt.Errorf("unknown proxy mode %q", mode)
			}
			if err != nil {
				return err
			}
			timed := func(f func() error) (time.Duration, error) {
				start := time.Now()
				err := f()
				return time.Since(start), err
			}
			first, err := timed(func() error { return backend.Sync(state, nil) })
			if err != nil {
				return fmt.Errorf("first full sync: %w", err)
			}
			resync, err := timed(func() error { return backend.Sync(state, nil) })
			if err != nil {
				return fmt.Errorf("full resync: %w", err)
			}
			partial, err := timed(func() error { return backend.Sync(changedState, one) })
			if err != nil {
				return fmt.Errorf("one endpoint change: %w", err)
			}
			rules := countRules(mode)
			cleanup, err := timed(backend.Cleanup)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			fmt.Printf("proxy %-8s %d×5: first full sync %v, full resync %v, one endpoint changed %v, cleanup %v (%s)\n",
				mode, services, first.Round(time.Millisecond), resync.Round(time.Millisecond), partial.Round(time.Millisecond), cleanup.Round(time.Millisecond), rules)
			return nil
		})
		if err != nil {
			fmt.Printf("proxy %-8s %d×5: %v\n", mode, services, err)
		}
	}
}

// proxyBenchName names the i-th benchmark service port.
func proxyBenchName(i int) netproxy.ServicePortName {
	return netproxy.ServicePortName{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i), Port: "http", Protocol: v1.ProtocolTCP}
}

// proxyBenchState is services ClusterIP Services with endpoints ready pod
// endpoints each, spread over 10 nodes; shift moves the first service's
// first endpoint to another address, which is the one-endpoint change.
func proxyBenchState(services, endpoints, shift int) *netproxy.State {
	st := &netproxy.State{
		NodeName:     "node-0",
		NodeIPs:      []netip.Addr{netip.MustParseAddr("10.250.0.10")},
		ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16")},
		Services:     map[netproxy.ServicePortName]*netproxy.ServicePort{},
	}
	for i := range services {
		sp := &netproxy.ServicePort{
			Name:       proxyBenchName(i),
			Protocol:   v1.ProtocolTCP,
			Port:       80,
			ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 43, byte(1 + i/250), byte(i % 250)})},
		}
		for j := range endpoints {
			n := i*endpoints + j
			if i == 0 && j == 0 {
				n += shift * 60000
			}
			node := n % 10
			sp.Endpoints = append(sp.Endpoints, netproxy.Endpoint{
				IP:       netip.AddrFrom4([4]byte{10, 42, byte(node*25 + (n/250)%25), byte(1 + n%250)}),
				Port:     8080,
				NodeName: fmt.Sprintf("node-%d", node),
				Local:    node == 0,
				Ready:    true, Serving: true,
			})
		}
		st.Services[sp.Name] = sp
	}
	return st
}

// countRules describes how big the rule set in the namespace is.
func countRules(mode string) string {
	argv := []string{"iptables-save", "-t", "nat"}
	unit := "nat rules"
	if mode == "nftables" {
		argv, unit = []string{"nft", "list", "table", "ip", "kite-proxy"}, "lines in nft list table"
	}
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "size unknown: " + err.Error()
	}
	n := 0
	for line := range strings.SplitSeq(string(out), "\n") {
		if mode == "nftables" || strings.HasPrefix(line, "-A ") {
			n++
		}
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// inNetns runs f on an OS thread switched into the named namespace; the
// programs f starts inherit it. The thread is discarded afterwards.
func inNetns(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}
