package main

import (
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"

	"kite/netproxy"
	"kite/netproxy/iptables"
	"kite/netproxy/nftables"
	"kite/test/proxyscale"
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

	state := proxyscale.State(services, endpoints, 0)
	changedState := proxyscale.State(services, endpoints, 1)
	one := map[netproxy.ServicePortName]bool{proxyscale.Name(0): true}
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
