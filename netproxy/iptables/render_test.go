package iptables

import (
	"bytes"
	"flag"
	"maps"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestRenderGolden(t *testing.T) {
	tests := []struct {
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
		{"loadbalancer", false, proxytest.State(
			proxytest.ServicePort("lb", "https", v1.ProtocolTCP, "10.43.0.8", 443,
				proxytest.WithEndpoints("10.42.1.3:8443@node-b"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30443
					sp.ExternalIPs = proxytest.Addrs("192.0.2.7")
					sp.LoadBalancerIPs = proxytest.Addrs("192.0.2.10")
					sp.LoadBalancerSourceRanges = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
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
					// Serving is false here: a terminating endpoint that
					// stopped serving is no fallback.
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
				}),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := renderer{family: family{ipv6: tt.ipv6}, randomFully: true}
			out := r.render(tt.state, nil, applied{}, nil)
			proxytest.Golden(t, tt.name, out.payload, *update)
		})
	}
}

// chainsDeclared lists the chains a payload declares in its nat table.
func chainsDeclared(payload []byte) map[string]bool {
	nat := payload[bytes.Index(payload, []byte("*nat\n")):]
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^:(\S+) `).FindAllSubmatch(nat, -1) {
		out[string(m[1])] = true
	}
	return out
}

func TestPartialSyncWritesOnlyChangedChains(t *testing.T) {
	web := proxytest.ServicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80, proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b"))
	db := proxytest.ServicePort("db", "", v1.ProtocolTCP, "10.43.0.6", 5432, proxytest.WithEndpoints("10.42.1.7:5432@node-b"))
	old := proxytest.ServicePort("old", "", v1.ProtocolTCP, "10.43.0.9", 80, proxytest.WithEndpoints("10.42.1.8:80@node-b"))
	sticky := proxytest.ServicePort("sticky", "", v1.ProtocolTCP, "10.43.0.7", 80, proxytest.WithEndpoints("10.42.0.4:80@node-a", "10.42.1.5:80@node-b"),
		func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 60 })
	r := renderer{family: family{}, randomFully: true}
	first := r.render(proxytest.State(web, db, old, sticky), nil, applied{}, nil)
	if got := first.applied.chains[web.Name]; len(got) != 1 {
		t.Errorf("chains of web = %v, want only its service chain (endpoints are translated in it)", got)
	}
	if got := first.applied.chains[sticky.Name]; len(got) != 3 {
		t.Errorf("chains of sticky = %v, want its service chain and one per endpoint (affinity)", got)
	}

	// web loses its endpoint on this node, old is deleted, sticky loses
	// an endpoint, db is untouched.
	web2 := proxytest.ServicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80, proxytest.WithEndpoints("10.42.1.3:8080@node-b"))
	sticky2 := proxytest.ServicePort("sticky", "", v1.ProtocolTCP, "10.43.0.7", 80, proxytest.WithEndpoints("10.42.0.4:80@node-a"),
		func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 60 })
	changed := map[netproxy.ServicePortName]bool{web.Name: true, old.Name: true, sticky.Name: true}
	second := r.render(proxytest.State(web2, db, sticky2), changed, first.applied, nil)
	proxytest.Golden(t, "partial", second.payload, *update)

	declared := chainsDeclared(second.payload)
	removedSEP := sepChain(sticky.Name, sticky.Endpoints[1])
	for _, c := range []struct {
		chain string
		want  bool
		why   string
	}{
		{svcChain(web.Name), true, "changed service chain rewritten"},
		{svcChain(db.Name), false, "unchanged service chain left alone"},
		{sepChain(sticky.Name, sticky.Endpoints[0]), true, "changed service's endpoint chain rewritten"},
		{servicesChain, true, "dispatch chain rewritten: a service is gone"},
		{postroutingChain, true, "postrouting rewritten: a hairpin endpoint is gone"},
		{nodePortsChain, false, "node ports unchanged"},
		{removedSEP, true, "stale endpoint chain declared for deletion"},
		{svcChain(old.Name), true, "deleted service's chain declared for deletion"},
	} {
		if declared[c.chain] != c.want {
			t.Errorf("%s: %s declared = %v, want %v", c.why, c.chain, declared[c.chain], c.want)
		}
	}
	if strings.Contains(tableSection(second.payload, "filter"), ":") {
		t.Errorf("filter chains rewritten although unchanged:\n%s", tableSection(second.payload, "filter"))
	}
	for _, stale := range []string{removedSEP, svcChain(old.Name)} {
		if !bytes.Contains(second.payload, []byte("-X "+stale+"\n")) {
			t.Errorf("stale chain %s not deleted", stale)
		}
	}
	// The dispatch chain still sends db's traffic to its untouched chain.
	if !bytes.Contains(second.payload, []byte("-j "+svcChain(db.Name))) {
		t.Error("dispatch lost the unchanged service")
	}
	if got := second.applied.chains[db.Name]; len(got) != 1 {
		t.Errorf("chains of unchanged db = %v, want kept from the previous sync", got)
	}
	if _, ok := second.applied.chains[old.Name]; ok {
		t.Error("deleted service still tracked")
	}

	// An endpoint change that leaves every shared chain as it was writes
	// the service's own chain only.
	db2 := proxytest.ServicePort("db", "", v1.ProtocolTCP, "10.43.0.6", 5432, proxytest.WithEndpoints("10.42.1.8:5432@node-b"))
	third := r.render(proxytest.State(web2, db2, sticky2), map[netproxy.ServicePortName]bool{db.Name: true},
		second.applied, nil)
	if got, want := chainsDeclared(third.payload), map[string]bool{svcChain(db.Name): true}; !maps.Equal(got, want) {
		t.Errorf("one endpoint changed: declared %v, want only %v", got, want)
	}
	if !strings.Contains(string(third.payload), "--to-destination 10.42.1.8:5432") {
		t.Errorf("new endpoint not written:\n%s", third.payload)
	}
}

func TestFullSyncRemovesUnknownServiceChains(t *testing.T) {
	web := proxytest.ServicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80, proxytest.WithEndpoints("10.42.0.2:8080@node-a"))
	existing := []string{"PREROUTING", "KITE-POSTROUTING", "KITE-SVC-AAAAAAAAAAAAAAAA", "KITE-SEP-BBBBBBBBBBBBBBBB", svcChain(web.Name), "KITE-SERVICES"}
	out := renderer{}.render(proxytest.State(web), nil, applied{}, existing)
	want := []string{"KITE-SEP-BBBBBBBBBBBBBBBB", "KITE-SVC-AAAAAAAAAAAAAAAA"}
	if strings.Join(out.stale, ",") != strings.Join(want, ",") {
		t.Errorf("stale = %v, want %v (never agent/cni's KITE-POSTROUTING or live chains)", out.stale, want)
	}
}
