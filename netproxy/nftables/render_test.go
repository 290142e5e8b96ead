package nftables

import (
	"flag"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// goldenStates are the cases the iptables backend's golden files cover.
func goldenStates() []struct {
	name  string
	ipv6  bool
	state *netproxy.State
} {
	return []struct {
		name  string
		ipv6  bool
		state *netproxy.State
	}{
		{"clusterip", false, proxytest.State(
			proxytest.ServicePort("web", "http", v1.ProtocolTCP, "10.43.0.5", 80,
				proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b", "!10.42.1.4:8080@node-b")),
			proxytest.ServicePort("dns", "dns", v1.ProtocolUDP, "10.43.0.10", 53,
				proxytest.WithEndpoints("10.42.1.9:5353@node-b")),
		)},
		{"nodeport", false, proxytest.State(
			proxytest.ServicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80,
				proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b", "10.42.2.4:8080@node-c"),
				func(sp *netproxy.ServicePort) { sp.NodePort = 30080 }),
		)},
		{"many-endpoints", false, proxytest.State(
			proxytest.ServicePort("wide", "", v1.ProtocolTCP, "10.43.0.17", 80, proxytest.WithEndpoints(
				"10.42.1.1:80@node-b", "10.42.1.2:80@node-b", "10.42.1.3:80@node-b", "10.42.1.4:80@node-b", "10.42.1.5:80@node-b",
				"10.42.1.6:80@node-b", "10.42.1.7:80@node-b", "10.42.1.8:80@node-b", "10.42.1.9:80@node-b")),
		)},
		{"loadbalancer", false, proxytest.State(
			proxytest.ServicePort("lb", "https", v1.ProtocolTCP, "10.43.0.8", 443,
				proxytest.WithEndpoints("10.42.1.3:8443@node-b"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30443
					sp.ExternalIPs = proxytest.Addrs("192.0.2.7")
					sp.LoadBalancerIPs = proxytest.Addrs("192.0.2.10")
					sp.LoadBalancerSourceRanges = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/28")}
				}),
		)},
		{"affinity", false, proxytest.State(
			proxytest.ServicePort("sticky", "", v1.ProtocolSCTP, "10.43.0.11", 9000,
				proxytest.WithEndpoints("10.42.0.2:9000@node-a", "10.42.1.3:9000@node-b"),
				func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 600 }),
		)},
		{"local-policies", false, proxytest.State(
			proxytest.ServicePort("local", "", v1.ProtocolTCP, "10.43.0.12", 80,
				proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30012
					sp.ExternalIPs = proxytest.Addrs("192.0.2.12")
					sp.ExternalPolicyLocal = true
					sp.InternalPolicyLocal = true
				}),
			proxytest.ServicePort("elsewhere", "", v1.ProtocolTCP, "10.43.0.13", 80,
				proxytest.WithEndpoints("10.42.1.3:8080@node-b", "!10.42.0.7:8080@node-a"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30013
					sp.ExternalPolicyLocal = true
					sp.InternalPolicyLocal = true
				}),
			proxytest.ServicePort("draining", "", v1.ProtocolTCP, "10.43.0.16", 80,
				proxytest.WithEndpoints("10.42.1.3:8080@node-b", "~10.42.0.7:8080@node-a"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30016
					sp.ExternalPolicyLocal = true
					sp.InternalPolicyLocal = true
				}),
		)},
		{"no-endpoints", false, proxytest.State(
			proxytest.ServicePort("empty", "http", v1.ProtocolTCP, "10.43.0.14", 80,
				proxytest.WithEndpoints("!10.42.0.2:8080@node-a", "~10.42.1.3:8080@node-b"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30014
					sp.ExternalIPs = proxytest.Addrs("192.0.2.14")
					// A terminating endpoint that stopped serving is no
					// fallback.
					sp.Endpoints[1].Serving = false
				}),
			proxytest.ServicePort("empty", "dns", v1.ProtocolUDP, "10.43.0.14", 53),
		)},
		{"ipv6", true, proxytest.State(
			proxytest.ServicePort("dual", "", v1.ProtocolUDP, "10.43.0.15", 53,
				proxytest.WithEndpoints("10.42.0.2:53@node-a", "[fd42::2]:53@node-a"),
				func(sp *netproxy.ServicePort) {
					sp.ClusterIPs = proxytest.Addrs("10.43.0.15", "fd43::15")
					sp.NodePort = 30053
					sp.SessionAffinityTimeout = 30
				}),
		)},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tt := range goldenStates() {
		t.Run(tt.name, func(t *testing.T) {
			tx := renderer{family: family{ipv6: tt.ipv6}}.render(tt.state, nil, nil, nil)
			if tx.batch.err != nil {
				t.Fatal(tx.batch.err)
			}
			proxytest.Golden(t, tt.name, tx.batch.text(), *update)
		})
	}
}

// partialFixture is a first full sync and a second state in which web
// lost an endpoint, old was deleted and db is untouched.
func partialFixture() (first, second *netproxy.State, changed map[netproxy.ServicePortName]bool) {
	web := proxytest.ServicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80,
		proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b"),
		func(sp *netproxy.ServicePort) { sp.NodePort = 30080; sp.SessionAffinityTimeout = 60 })
	db := proxytest.ServicePort("db", "", v1.ProtocolTCP, "10.43.0.6", 5432, proxytest.WithEndpoints("10.42.1.7:5432@node-b"))
	old := proxytest.ServicePort("old", "", v1.ProtocolUDP, "10.43.0.9", 53, proxytest.WithEndpoints("10.42.1.8:53@node-b"))
	web2 := *web
	web2.Endpoints = proxytest.Endpoints("10.42.0.2:8080@node-a")
	return proxytest.State(web, db, old), proxytest.State(&web2, db),
		map[netproxy.ServicePortName]bool{web.Name: true, old.Name: true}
}

func TestPartialSyncTouchesOnlyChangedServices(t *testing.T) {
	first, second, changed := partialFixture()
	r := renderer{family: family{}}
	tx1 := r.render(first, nil, nil, nil)
	tx2 := r.render(second, changed, tx1.next, nil)
	proxytest.Golden(t, "partial", tx2.batch.text(), *update)

	web, db, old := second.Services[netproxy.ServicePortName{Namespace: "ns", Name: "web", Protocol: v1.ProtocolTCP}],
		second.Services[netproxy.ServicePortName{Namespace: "ns", Name: "db", Protocol: v1.ProtocolTCP}],
		first.Services[netproxy.ServicePortName{Namespace: "ns", Name: "old", Protocol: v1.ProtocolUDP}]
	removed := first.Services[web.Name].Endpoints[1]
	payload := string(tx2.batch.text())
	for _, c := range []struct {
		text string
		want bool
		why  string
	}{
		{"flush chain ip kite-proxy " + serviceChain(web.Name) + "\n", true, "changed service chain rewritten"},
		{endpointChain(web.Name, web.Endpoints[0]) + " update", false, "kept endpoint chain whose rules stay left alone"},
		{"add rule ip kite-proxy " + externalChain(web.Name), false, "external chain whose rules stay left alone"},
		{serviceChain(db.Name), false, "unchanged service left alone"},
		{"10.42.1.7", false, "unchanged endpoint left alone"},
		{"delete chain ip kite-proxy " + endpointChain(web.Name, removed) + "\n", true, "removed endpoint's chain deleted"},
		{"delete element ip kite-proxy hairpin-endpoints { 10.42.1.3 . 10.42.1.3 }\n", true, "removed endpoint's hairpin entry deleted"},
		{"delete element ip kite-proxy hairpin-endpoints { 10.42.1.8 . 10.42.1.8 }\n", true, "deleted service's hairpin entry deleted"},
		{"delete set ip kite-proxy " + affinitySet(web.Name, removed) + "\n", true, "removed endpoint's affinity set deleted"},
		{"add set", false, "kept affinity set kept with its clients"},
		{"delete chain ip kite-proxy " + serviceChain(old.Name) + "\n", true, "deleted service's chain deleted"},
		{"delete element ip kite-proxy service-ips { 10.43.0.9 . udp . 53 }\n", true, "deleted service's element removed"},
		{"10.43.0.5 . tcp . 80", false, "unchanged element of a changed service not rewritten"},
		{"add table", false, "no table rebuild"},
	} {
		if strings.Contains(payload, c.text) != c.want {
			t.Errorf("%s: payload contains %q = %v, want %v", c.why, c.text, !c.want, c.want)
		}
	}
	// Chains go only after everything that referenced them.
	del := strings.Index(payload, "delete chain ip kite-proxy "+serviceChain(old.Name))
	elem := strings.Index(payload, "delete element ip kite-proxy service-ips { 10.43.0.9")
	flush := strings.Index(payload, "flush chain ip kite-proxy "+serviceChain(old.Name))
	if elem < 0 || flush < 0 || del < elem || del < flush {
		t.Errorf("stale chain deleted before its references were removed:\n%s", payload)
	}
	if got := tx2.next.chains[db.Name]; len(got) != 1 {
		t.Errorf("chains of unchanged db = %v, want kept from the previous sync", got)
	}
	if _, ok := tx2.next.chains[old.Name]; ok {
		t.Error("deleted service still tracked")
	}

	// Applying the partial result must equal rendering the second state
	// from scratch.
	want := r.render(second, nil, nil, nil).next
	for _, m := range mapNames {
		if !mapsEqual(tx2.next.elements[m], want.elements[m]) {
			t.Errorf("map %s after partial sync = %v, full render gives %v", m, tx2.next.elements[m], want.elements[m])
		}
	}
	if !maps.Equal(tx2.next.hairpinRefs, want.hairpinRefs) {
		t.Errorf("hairpin entries after partial sync = %v, full render gives %v", tx2.next.hairpinRefs, want.hairpinRefs)
	}
	for name, chains := range want.chains {
		if !slices.Equal(tx2.next.chains[name], chains) {
			t.Errorf("chains of %s after partial sync = %v, full render gives %v", name, tx2.next.chains[name], chains)
		}
	}
}

func mapsEqual(a, b map[string]element) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w.verdict != v.verdict || !slices.Equal(w.key.data, v.key.data) {
			return false
		}
	}
	return true
}

func TestAffinityTimeoutChangeRecreatesSets(t *testing.T) {
	sticky := func(timeout int32) *netproxy.ServicePort {
		return proxytest.ServicePort("sticky", "", v1.ProtocolTCP, "10.43.0.11", 80, proxytest.WithEndpoints("10.42.0.2:80@node-a"),
			func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = timeout })
	}
	r := renderer{}
	first := r.render(proxytest.State(sticky(600)), nil, nil, nil)
	name := sticky(0).Name
	second := r.render(proxytest.State(sticky(60)), map[netproxy.ServicePortName]bool{name: true}, first.next, nil)
	set := affinitySet(name, sticky(0).Endpoints[0])
	p := string(second.batch.text())
	del, add := strings.Index(p, "delete set ip kite-proxy "+set), strings.Index(p, "add set ip kite-proxy "+set+" { type ipv4_addr; flags dynamic,timeout; timeout 60s; }")
	if del < 0 || add < del {
		t.Errorf("timeout change should delete then add the set:\n%s", p)
	}
}

func TestFullSyncCarriesAffinity(t *testing.T) {
	sp := proxytest.ServicePort("sticky", "", v1.ProtocolTCP, "10.43.0.11", 80, proxytest.WithEndpoints("10.42.0.2:80@node-a", "10.42.0.3:80@node-a"),
		func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 600 })
	kept, gone := affinitySet(sp.Name, sp.Endpoints[0]), affinitySet(sp.Name, netproxy.Endpoint{IP: netip.MustParseAddr("10.42.0.9"), Port: 80})
	carried := map[string]carriedSet{
		kept: {timeout: 600, entries: []carriedEntry{{addr: proxytest.Addrs("192.168.5.20")[0], expires: 420 * time.Second},
			{addr: proxytest.Addrs("192.168.5.21")[0], expires: 0}}},
		gone: {timeout: 600, entries: []carriedEntry{{addr: proxytest.Addrs("192.168.5.22")[0], expires: 100 * time.Second}}},
	}
	p := string(renderer{}.render(proxytest.State(sp), nil, nil, carried).batch.text())
	if !strings.Contains(p, "add element ip kite-proxy "+kept+" { 192.168.5.20 timeout 600s expires 420s }\n") {
		t.Errorf("client of a kept endpoint not carried over:\n%s", p)
	}
	if strings.Contains(p, "192.168.5.21") || strings.Contains(p, "192.168.5.22") {
		t.Errorf("expired entry or removed endpoint carried over:\n%s", p)
	}
}

// nftName is what nft accepts unquoted as a chain or set name.
var nftName = regexp.MustCompile(`^[a-zA-Z_.][a-zA-Z0-9/\\_.-]*$`)

func TestNamesStayValid(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		name string
		n    netproxy.ServicePortName
		ep   netproxy.Endpoint
	}{
		{"short", netproxy.ServicePortName{Namespace: "ns", Name: "web", Port: "http", Protocol: v1.ProtocolTCP},
			netproxy.Endpoint{IP: netip.MustParseAddr("10.42.0.2"), Port: 8080}},
		{"longest names and IPv6", netproxy.ServicePortName{Namespace: long, Name: long, Port: strings.Repeat("p", 15), Protocol: v1.ProtocolSCTP},
			netproxy.Endpoint{IP: netip.MustParseAddr("fd42:1234:5678:9abc:def0:1234:5678:9abc"), Port: 65535}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := []string{serviceChain(tt.n), localChain(tt.n), externalChain(tt.n), firewallChain(tt.n),
				endpointChain(tt.n, tt.ep), affinitySet(tt.n, tt.ep)}
			for _, n := range names {
				if len(n) >= 200 || !nftName.MatchString(n) {
					t.Errorf("%q (%d bytes) is not a valid nft name under 200 bytes", n, len(n))
				}
			}
			other := tt.ep
			other.Port--
			if endpointChain(tt.n, tt.ep) == endpointChain(tt.n, other) {
				t.Errorf("endpoints %v and %v share a chain name", tt.ep, other)
			}
		})
	}
}

func TestPartialSyncHandsOverSharedKeys(t *testing.T) {
	a := proxytest.ServicePort("a", "", v1.ProtocolTCP, "10.43.0.20", 80, proxytest.WithEndpoints("10.42.0.2:80@node-a"))
	b := proxytest.ServicePort("b", "", v1.ProtocolTCP, "10.43.0.20", 80, proxytest.WithEndpoints("10.42.0.3:80@node-a"))
	r := renderer{}
	tests := []struct {
		name          string
		before, after *netproxy.State
		changed       *netproxy.ServicePort
	}{
		{"owner deleted, the other claimant takes over", proxytest.State(a, b), proxytest.State(b), a},
		{"earlier name arrives and takes over", proxytest.State(b), proxytest.State(a, b), a},
		{"later claimant changes, owner keeps the key", proxytest.State(a, b), proxytest.State(a), b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := r.render(tt.before, nil, nil, nil)
			got := r.render(tt.after, map[netproxy.ServicePortName]bool{tt.changed.Name: true}, first.next, nil).next
			want := r.render(tt.after, nil, nil, nil).next
			for _, m := range mapNames {
				if !mapsEqual(got.elements[m], want.elements[m]) {
					t.Errorf("map %s after partial sync = %v, full render gives %v", m, got.elements[m], want.elements[m])
				}
			}
		})
	}
}
