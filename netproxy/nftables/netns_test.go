package nftables

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
)

// TestBackendInNetns runs the backend in a "node" namespace holding two
// endpoints on its loopback, with a "client" namespace behind a veth pair,
// and checks rules and real traffic through full and partial syncs.
func TestBackendInNetns(t *testing.T) {
	proxytest.SkipUnlessRoot(t, "creates network namespaces and writes nftables rules inside them", "ip", "nft")
	suffix := proxytest.RandomSuffix(t)
	node := proxytest.NewNetns(t, "kite-nft-"+suffix)
	client := proxytest.NewNetns(t, "kite-nft-"+suffix+"-c")
	node.Exec("ip", "link", "add", "kn"+suffix, "type", "veth", "peer", "name", "kc"+suffix)
	node.Exec("ip", "link", "set", "kc"+suffix, "netns", client.Name)
	node.Exec("ip", "addr", "add", "192.168.77.1/24", "dev", "kn"+suffix)
	node.Exec("ip", "link", "set", "kn"+suffix, "up")
	client.Exec("ip", "addr", "add", "192.168.77.2/24", "dev", "kc"+suffix)
	client.Exec("ip", "link", "set", "kc"+suffix, "up")
	for _, dst := range []string{"10.43.0.0/16", "192.0.2.0/24"} {
		client.Exec("ip", "route", "add", dst, "via", "192.168.77.1")
	}
	// Endpoints live on the node's loopback; the service range needs a
	// route so the node's own clients reach the nat output hook.
	node.Exec("ip", "addr", "add", "10.42.0.2/32", "dev", "lo")
	node.Exec("ip", "addr", "add", "10.42.0.3/32", "dev", "lo")
	node.Exec("ip", "route", "add", "10.43.0.0/16", "dev", "lo")
	// A node forwards, so client traffic nothing translated reaches the
	// forward hook, where it is rejected.
	node.Exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	node.Serve(t, "10.42.0.2:8080", "a")
	node.Serve(t, "10.42.0.3:8080", "b")

	web := proxytest.ServicePort("web", "http", v1.ProtocolTCP, "10.43.0.5", 80,
		proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.0.3:8080@node-a"),
		func(sp *netproxy.ServicePort) { sp.NodePort = 30080 })
	sticky := proxytest.ServicePort("sticky", "", v1.ProtocolTCP, "10.43.0.6", 80,
		proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.0.3:8080@node-a"),
		func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 600 })
	empty := proxytest.ServicePort("empty", "", v1.ProtocolTCP, "10.43.0.7", 80)
	guarded := proxytest.ServicePort("guarded", "", v1.ProtocolTCP, "10.43.0.8", 80, proxytest.WithEndpoints("10.42.0.2:8080@node-a"),
		func(sp *netproxy.ServicePort) {
			sp.NodePort = 30088
			sp.LoadBalancerIPs = proxytest.Addrs("192.0.2.10")
			sp.LoadBalancerSourceRanges = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		})
	dns := proxytest.ServicePort("dns", "", v1.ProtocolUDP, "10.43.0.10", 53, proxytest.WithEndpoints("10.42.0.2:53@node-a"))
	state := proxytest.State(web, sticky, empty, guarded, dns)

	var b *Backend
	must := func(what string, fn func() error) {
		t.Helper()
		if err := node.Do(fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("new backend", func() (err error) { b, err = New(Config{}); return err })
	t.Cleanup(func() { _ = node.Do(b.Cleanup) })
	must("full sync", func() error { return b.Sync(state, nil) })

	table := func() string { return node.Exec("nft", "list", "table", "ip", tableName) }
	listing := table()
	for _, want := range []string{
		"type nat hook prerouting priority dstnat; policy accept;",
		"10.43.0.5 . tcp . 80 : goto " + serviceChain(web.Name),
		"tcp . 30080 : goto " + externalChain(web.Name),
		"10.43.0.7 . tcp . 80 : goto " + rejectChain,
		"192.0.2.10 . tcp . 80 : goto " + firewallChain(guarded.Name),
		"numgen random mod 2 ",
		"set " + affinitySet(sticky.Name, sticky.Endpoints[0]),
		"masquerade fully-random",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("table lacks %q:\n%s", want, listing)
		}
	}
	if got := strings.TrimSpace(node.Exec("cat", "/proc/sys/net/ipv4/conf/all/route_localnet")); got != "1" {
		t.Errorf("route_localnet = %s, want 1", got)
	}

	// From the node itself and from the client across the veth pair,
	// balancing reaches both endpoints.
	for _, from := range []*proxytest.Netns{node, client} {
		seen := map[string]int{}
		for range 40 {
			reply, err := from.Dial("10.43.0.5:80", 3*time.Second)
			if err != nil {
				t.Fatalf("dial cluster IP from %s: %v", from.Name, err)
			}
			seen[reply]++
		}
		if seen["a"] == 0 || seen["b"] == 0 {
			t.Errorf("40 connections from %s reached %v, want both endpoints", from.Name, seen)
		}
	}
	first, err := client.Dial("10.43.0.6:80", 3*time.Second)
	if err != nil {
		t.Fatalf("dial sticky service: %v", err)
	}
	for range 10 {
		if reply, err := client.Dial("10.43.0.6:80", 3*time.Second); err != nil || reply != first {
			t.Fatalf("sticky service answered %q (%v), want always %q", reply, err, first)
		}
	}
	for _, target := range []struct {
		from *proxytest.Netns
		addr string
	}{{node, "127.0.0.1:30080"}, {client, "192.168.77.1:30080"}} {
		if reply, err := target.from.Dial(target.addr, 3*time.Second); err != nil || (reply != "a" && reply != "b") {
			t.Errorf("node port %s from %s answered %q, %v", target.addr, target.from.Name, reply, err)
		}
	}
	for _, from := range []*proxytest.Netns{node, client} {
		start := time.Now()
		if _, err := from.Dial("10.43.0.7:80", 3*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("service without endpoints from %s: got %v, want connection refused", from.Name, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("refusal took %v, want it at once", took)
		}
	}
	// The client is outside the load balancer's source ranges: dropped,
	// while the node port of the same service answers.
	if _, err := client.Dial("192.0.2.10:80", time.Second); err == nil {
		t.Error("load-balancer IP answered a client outside its source ranges")
	}
	if reply, err := client.Dial("192.168.77.1:30088", 3*time.Second); err != nil || reply != "a" {
		t.Errorf("node port of the guarded service answered %q, %v", reply, err)
	}

	// A partial sync: web loses endpoint b, empty gains one, and the UDP
	// service moves to another endpoint.
	web2, empty2, dns2 := *web, *empty, *dns
	web2.Endpoints = proxytest.Endpoints("10.42.0.2:8080@node-a")
	empty2.Endpoints = proxytest.Endpoints("10.42.0.3:8080@node-a")
	dns2.Endpoints = proxytest.Endpoints("10.42.0.3:53@node-a")
	if b.flows.Path() != "" {
		node.SendUDP(t, "10.43.0.10:53")
		if out := node.Exec("conntrack", "-L", "-p", "udp", "--orig-dst", "10.43.0.10"); !strings.Contains(out, "src=10.42.0.2") {
			t.Fatalf("no conntrack entry for the UDP flow:\n%s", out)
		}
	}
	state2 := proxytest.State(&web2, sticky, &empty2, guarded, &dns2)
	must("partial sync", func() error {
		return b.Sync(state2, map[netproxy.ServicePortName]bool{web.Name: true, empty.Name: true, dns.Name: true})
	})
	listing = table()
	if strings.Contains(listing, endpointChain(web.Name, web.Endpoints[1])) {
		t.Errorf("removed endpoint's chain still present:\n%s", listing)
	}
	if !strings.Contains(listing, endpointChain(sticky.Name, sticky.Endpoints[1])) {
		t.Error("unchanged service's endpoint chain lost")
	}
	for range 10 {
		if reply, err := client.Dial("10.43.0.5:80", 3*time.Second); err != nil || reply != "a" {
			t.Fatalf("after removing b the cluster IP answered %q, %v", reply, err)
		}
	}
	if reply, err := client.Dial("10.43.0.7:80", 3*time.Second); err != nil || reply != "b" {
		t.Errorf("service that gained an endpoint answered %q, %v", reply, err)
	}
	if b.flows.Path() != "" {
		if out := node.Exec("conntrack", "-L", "-p", "udp", "--orig-dst", "10.43.0.10"); strings.Contains(out, "src=10.42.0.2") {
			t.Errorf("UDP flow to the removed endpoint survived:\n%s", out)
		}
	} else {
		t.Log("conntrack program not installed: stale UDP flow removal not exercised")
	}

	// Tampering is repaired by the next full sync, which keeps affinity.
	node.Exec("nft", "flush", "chain", "ip", tableName, servicesChain)
	node.Exec("nft", "add", "chain", "ip", tableName, "service-AAAAAAAA-ns/stale/tcp/")
	if _, err := client.Dial("10.43.0.5:80", time.Second); err == nil {
		t.Fatal("tampering did not break the service; the test proves nothing")
	}
	must("repairing full sync", func() error { return b.Sync(state2, nil) })
	listing = table()
	if strings.Contains(listing, "service-AAAAAAAA") {
		t.Error("full sync kept a chain it does not know")
	}
	if !strings.Contains(listing, "elements = { 192.168.77.2 expires") {
		t.Errorf("full sync lost the sticky client's affinity entry:\n%s", listing)
	}
	if reply, err := client.Dial("10.43.0.5:80", 3*time.Second); err != nil || reply != "a" {
		t.Errorf("after the repairing sync the cluster IP answered %q, %v", reply, err)
	}
	for range 5 {
		if reply, err := client.Dial("10.43.0.6:80", 3*time.Second); err != nil || reply != first {
			t.Fatalf("after a full sync the sticky service answered %q (%v), want still %q", reply, err, first)
		}
	}

	// Cleanup removes the table, and a second Cleanup finds nothing to do.
	must("cleanup", b.Cleanup)
	if out := node.Exec("nft", "list", "tables"); strings.Contains(out, tableName) {
		t.Errorf("tables after Cleanup: %s", out)
	}
	must("second cleanup", b.Cleanup)
}

// TestIPv6BackendInNetns applies a full and a partial sync to table ip6
// kite-proxy, which the kernel must accept as it does the IPv4 one.
func TestIPv6BackendInNetns(t *testing.T) {
	proxytest.SkipUnlessRoot(t, "creates network namespaces and writes nftables rules inside them", "ip", "nft")
	node := proxytest.NewNetns(t, "kite-nft-"+proxytest.RandomSuffix(t))
	sp := proxytest.ServicePort("dual", "", v1.ProtocolUDP, "fd43::15", 53,
		proxytest.WithEndpoints("[fd42::2]:53@node-a", "[fd42::3]:53@node-b"),
		func(sp *netproxy.ServicePort) {
			sp.NodePort = 30053
			sp.SessionAffinityTimeout = 30
			sp.LoadBalancerIPs = proxytest.Addrs("2001:db8::10")
			sp.LoadBalancerSourceRanges = []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48")}
		})
	var b *Backend
	if err := node.Do(func() (err error) { b, err = New(Config{IPv6: true}); return err }); err != nil {
		t.Fatal(err)
	}
	if err := node.Do(func() error { return b.Sync(proxytest.State(sp), nil) }); err != nil {
		t.Fatalf("full sync: %v", err)
	}
	sp2 := *sp
	sp2.Endpoints = proxytest.Endpoints("[fd42::2]:53@node-a")
	if err := node.Do(func() error {
		return b.Sync(proxytest.State(&sp2), map[netproxy.ServicePortName]bool{sp.Name: true})
	}); err != nil {
		t.Fatalf("partial sync: %v", err)
	}
	listing := node.Exec("nft", "list", "table", "ip6", tableName)
	for _, want := range []string{"fd43::15 . udp . 53 : goto " + serviceChain(sp.Name), "dnat to [fd42::2]:53", "ip6 daddr != ::1"} {
		if !strings.Contains(listing, want) {
			t.Errorf("ip6 table lacks %q:\n%s", want, listing)
		}
	}
	if strings.Contains(listing, "fd42..3") {
		t.Errorf("removed endpoint still present:\n%s", listing)
	}
	if err := node.Do(b.Cleanup); err != nil {
		t.Fatal(err)
	}
}
