package iptables

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
)

// testNetns is a network namespace the test creates with `ip netns add`;
// everything the backend writes lands there, never in the host's tables.
type testNetns struct {
	t    *testing.T
	name string
}

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and writes iptables rules inside it")
	}
	for _, tool := range []string{"ip", "iptables-restore", "iptables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	ns := &testNetns{t: t, name: "kite-proxy-" + hex.EncodeToString(b)}
	if out, err := exec.Command("ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	return ns
}

// exec runs a command inside the namespace and returns its output.
func (ns *testNetns) exec(args ...string) string {
	ns.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// do runs fn on an OS thread switched into the namespace; the thread is
// thrown away afterwards, so no other goroutine ever runs in it.
func (ns *testNetns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns.name)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

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
func checkApplied(t *testing.T, ns *testNetns, state *netproxy.State) {
	t.Helper()
	payload := renderer{}.render(state, nil, nil, nil).payload
	for _, table := range []string{"nat", "filter"} {
		want := rulesPerChain(tableSection(payload, table))
		got := rulesPerChain(ns.exec("iptables-save", "-t", table))
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

// listen starts a TCP server inside the namespace that answers each
// connection with its own name.
func listen(t *testing.T, ns *testNetns, addr, name string) {
	t.Helper()
	var l net.Listener
	if err := ns.do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, name)
			c.Close()
		}
	}()
}

// dial connects from inside the namespace and returns what the server
// said, or the error.
func dial(ns *testNetns, addr string) (string, error) {
	var reply []byte
	err := ns.do(func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		reply, err = io.ReadAll(c)
		return err
	})
	return string(reply), err
}

func TestBackendInNetns(t *testing.T) {
	ns := newTestNetns(t)
	// Endpoints live on loopback inside the namespace; the service range
	// needs a route so local clients get as far as the nat OUTPUT hook.
	ns.exec("ip", "link", "set", "lo", "up")
	ns.exec("ip", "addr", "add", "10.42.0.2/32", "dev", "lo")
	ns.exec("ip", "addr", "add", "10.42.0.3/32", "dev", "lo")
	ns.exec("ip", "route", "add", "10.43.0.0/16", "dev", "lo")
	listen(t, ns, "10.42.0.2:8080", "a")
	listen(t, ns, "10.42.0.3:8080", "b")

	web := servicePort("web", "http", v1.ProtocolTCP, "10.43.0.5", 80,
		withEndpoints("10.42.0.2:8080@node-a", "10.42.0.3:8080@node-a"),
		func(sp *netproxy.ServicePort) { sp.NodePort = 30080 })
	sticky := servicePort("sticky", "", v1.ProtocolTCP, "10.43.0.6", 80,
		withEndpoints("10.42.0.2:8080@node-a", "10.42.0.3:8080@node-a"),
		func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 600 })
	empty := servicePort("empty", "", v1.ProtocolTCP, "10.43.0.7", 80)
	lb := servicePort("lb", "", v1.ProtocolUDP, "10.43.0.8", 53, withEndpoints("10.42.0.2:53@node-a"),
		func(sp *netproxy.ServicePort) {
			sp.LoadBalancerIPs = addrs("192.0.2.10")
			sp.LoadBalancerSourceRanges = nil
			sp.ExternalPolicyLocal = true
		})
	state := newState(web, sticky, empty, lb)

	var b *Backend
	must := func(what string, fn func() error) {
		t.Helper()
		if err := ns.do(fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("new backend", func() (err error) { b, err = New(Config{}); return err })
	t.Cleanup(func() { _ = ns.do(b.Cleanup) })
	must("full sync", func() error { return b.Sync(state, nil) })
	checkApplied(t, ns, state)

	nat := ns.exec("iptables-save", "-t", "nat")
	filter := ns.exec("iptables-save", "-t", "filter")
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
	if got := strings.TrimSpace(ns.exec("cat", "/proc/sys/net/ipv4/conf/all/route_localnet")); got != "1" {
		t.Errorf("route_localnet = %s, want 1", got)
	}

	// Traffic: random balancing reaches both endpoints, affinity sticks to
	// one, a node port answers on localhost, no endpoints means refused.
	seen := map[string]int{}
	for range 40 {
		reply, err := dial(ns, "10.43.0.5:80")
		if err != nil {
			t.Fatalf("dial cluster IP: %v", err)
		}
		seen[reply]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("40 connections to the cluster IP reached %v, want both endpoints", seen)
	}
	first, err := dial(ns, "10.43.0.6:80")
	if err != nil {
		t.Fatalf("dial sticky service: %v", err)
	}
	for range 10 {
		if reply, err := dial(ns, "10.43.0.6:80"); err != nil || reply != first {
			t.Fatalf("sticky service answered %q (%v), want always %q", reply, err, first)
		}
	}
	if reply, err := dial(ns, "127.0.0.1:30080"); err != nil || (reply != "a" && reply != "b") {
		t.Errorf("node port on localhost answered %q, %v", reply, err)
	}
	start := time.Now()
	_, err = dial(ns, "10.43.0.7:80")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service without endpoints: got %v, want connection refused", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refusal took %v, want it at once", took)
	}

	// A partial sync: web loses an endpoint; only its chains are touched
	// and the dropped endpoint's chain disappears.
	web2 := servicePort("web", "http", v1.ProtocolTCP, "10.43.0.5", 80,
		withEndpoints("10.42.0.2:8080@node-a"), func(sp *netproxy.ServicePort) { sp.NodePort = 30080 })
	state2 := newState(web2, sticky, empty, lb)
	must("partial sync", func() error {
		return b.Sync(state2, map[netproxy.ServicePortName]bool{web.Name: true})
	})
	checkApplied(t, ns, state2)
	if strings.Contains(ns.exec("iptables-save", "-t", "nat"), sepChain(web.Name, web.Endpoints[1])) {
		t.Error("removed endpoint's chain still present")
	}
	for range 10 {
		if reply, err := dial(ns, "10.43.0.5:80"); err != nil || reply != "a" {
			t.Fatalf("after removing b the cluster IP answered %q, %v", reply, err)
		}
	}

	// A UDP flow to a removed endpoint is forgotten (when the conntrack
	// program is installed), so the client's next datagram is balanced anew.
	if b.conntrack.Path() != "" {
		udpFlow(t, ns, "10.43.0.8:53")
		flows := func() string { return ns.exec("conntrack", "-L", "-p", "udp", "--orig-dst", "10.43.0.8") }
		if !strings.Contains(flows(), "src=10.42.0.2") {
			t.Fatalf("no conntrack entry for the UDP flow:\n%s", flows())
		}
		lb2 := *lb
		lb2.Endpoints = endpoints("10.42.0.3:53@node-a")
		state2 = newState(web2, sticky, empty, &lb2)
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
	ns.exec("iptables", "-t", "nat", "-F", svcChain(web.Name))
	ns.exec("iptables", "-t", "nat", "-N", "KITE-SEP-AAAAAAAAAAAAAAAA")
	ns.exec("iptables", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "kite service portals", "-j", "KITE-SERVICES")
	must("repairing full sync", func() error { return b.Sync(state2, nil) })
	checkApplied(t, ns, state2)
	if !strings.Contains(ns.exec("iptables-save", "-t", "nat"), "-A PREROUTING -m comment --comment \"kite service portals\" -j KITE-SERVICES") {
		t.Error("full sync did not restore the PREROUTING hook")
	}

	// Cleanup leaves nothing of kite behind.
	must("cleanup", b.Cleanup)
	for _, table := range []string{"nat", "filter"} {
		if out := ns.exec("iptables-save", "-t", table); strings.Contains(out, "KITE-") {
			t.Errorf("%s table after Cleanup still mentions kite:\n%s", table, out)
		}
	}
	if bytes.Contains([]byte(fmt.Sprint(b.chains)), []byte("KITE")) {
		t.Error("backend still tracks chains after Cleanup")
	}
}

// udpFlow sends one datagram from inside the namespace, which leaves a
// conntrack entry behind.
func udpFlow(t *testing.T, ns *testNetns, addr string) {
	t.Helper()
	err := ns.do(func() error {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("ping"))
		return err
	})
	if err != nil {
		t.Fatalf("send UDP to %s: %v", addr, err)
	}
}
