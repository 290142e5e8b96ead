package iptables

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const thisNode = "node-a"

func addrs(in ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range in {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// endpoint parses "ip:port@node" with an optional "!" prefix for not
// ready, "~" for serving while terminating.
func endpoint(spec string) netproxy.Endpoint {
	e := netproxy.Endpoint{Ready: true, Serving: true}
	switch spec[0] {
	case '!':
		e = netproxy.Endpoint{}
		spec = spec[1:]
	case '~':
		e = netproxy.Endpoint{Serving: true, Terminating: true}
		spec = spec[1:]
	}
	addrPort, node, _ := strings.Cut(spec, "@")
	ap := netip.MustParseAddrPort(addrPort)
	e.IP, e.Port, e.NodeName, e.Local = ap.Addr(), int32(ap.Port()), node, node == thisNode
	return e
}

func endpoints(specs ...string) []netproxy.Endpoint {
	var out []netproxy.Endpoint
	for _, s := range specs {
		out = append(out, endpoint(s))
	}
	return out
}

func servicePort(name, port string, proto v1.Protocol, clusterIP string, p int32, opts ...func(*netproxy.ServicePort)) *netproxy.ServicePort {
	sp := &netproxy.ServicePort{
		Name:       netproxy.ServicePortName{Namespace: "ns", Name: name, Port: port, Protocol: proto},
		Protocol:   proto,
		Port:       p,
		ClusterIPs: addrs(clusterIP),
	}
	for _, o := range opts {
		o(sp)
	}
	return sp
}

func withEndpoints(specs ...string) func(*netproxy.ServicePort) {
	return func(sp *netproxy.ServicePort) { sp.Endpoints = endpoints(specs...) }
}

func newState(ports ...*netproxy.ServicePort) *netproxy.State {
	s := &netproxy.State{
		NodeName:     thisNode,
		NodeIPs:      addrs("192.168.5.10"),
		ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("fd42::/56")},
		Services:     map[netproxy.ServicePortName]*netproxy.ServicePort{},
	}
	for _, sp := range ports {
		s.Services[sp.Name] = sp
	}
	return s
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name  string
		ipv6  bool
		state *netproxy.State
	}{
		{"clusterip", false, newState(
			servicePort("web", "http", v1.ProtocolTCP, "10.43.0.5", 80,
				withEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b", "!10.42.1.4:8080@node-b")),
			servicePort("dns", "dns", v1.ProtocolUDP, "10.43.0.10", 53,
				withEndpoints("10.42.1.9:5353@node-b")),
		)},
		{"nodeport", false, newState(
			servicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80,
				withEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b", "10.42.2.4:8080@node-c"),
				func(sp *netproxy.ServicePort) { sp.NodePort = 30080 }),
		)},
		{"loadbalancer", false, newState(
			servicePort("lb", "https", v1.ProtocolTCP, "10.43.0.8", 443,
				withEndpoints("10.42.1.3:8443@node-b"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30443
					sp.ExternalIPs = addrs("192.0.2.7")
					sp.LoadBalancerIPs = addrs("192.0.2.10")
					sp.LoadBalancerSourceRanges = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
				}),
		)},
		{"affinity", false, newState(
			servicePort("sticky", "", v1.ProtocolSCTP, "10.43.0.11", 9000,
				withEndpoints("10.42.0.2:9000@node-a", "10.42.1.3:9000@node-b"),
				func(sp *netproxy.ServicePort) { sp.SessionAffinityTimeout = 600 }),
		)},
		{"local-policies", false, newState(
			servicePort("local", "", v1.ProtocolTCP, "10.43.0.12", 80,
				withEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30012
					sp.ExternalIPs = addrs("192.0.2.12")
					sp.ExternalPolicyLocal = true
					sp.InternalPolicyLocal = true
				}),
			servicePort("elsewhere", "", v1.ProtocolTCP, "10.43.0.13", 80,
				withEndpoints("10.42.1.3:8080@node-b", "!10.42.0.7:8080@node-a"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30013
					sp.ExternalPolicyLocal = true
					sp.InternalPolicyLocal = true
				}),
			servicePort("draining", "", v1.ProtocolTCP, "10.43.0.16", 80,
				withEndpoints("10.42.1.3:8080@node-b", "~10.42.0.7:8080@node-a"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30016
					sp.ExternalPolicyLocal = true
					sp.InternalPolicyLocal = true
				}),
		)},
		{"no-endpoints", false, newState(
			servicePort("empty", "http", v1.ProtocolTCP, "10.43.0.14", 80,
				withEndpoints("!10.42.0.2:8080@node-a", "~10.42.1.3:8080@node-b"),
				func(sp *netproxy.ServicePort) {
					sp.NodePort = 30014
					sp.ExternalIPs = addrs("192.0.2.14")
					// Serving is false here: a terminating endpoint that
					// stopped serving is no fallback.
					sp.Endpoints[1].Serving = false
				}),
			servicePort("empty", "dns", v1.ProtocolUDP, "10.43.0.14", 53),
		)},
		{"ipv6", true, newState(
			servicePort("dual", "", v1.ProtocolUDP, "10.43.0.15", 53,
				withEndpoints("10.42.0.2:53@node-a", "[fd42::2]:53@node-a"),
				func(sp *netproxy.ServicePort) {
					sp.ClusterIPs = addrs("10.43.0.15", "fd43::15")
					sp.NodePort = 30053
				}),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := renderer{family: family{ipv6: tt.ipv6}, randomFully: true}
			out := r.render(tt.state, nil, nil, nil)
			golden(t, tt.name, out.payload)
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
	web := servicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80, withEndpoints("10.42.0.2:8080@node-a", "10.42.1.3:8080@node-b"))
	db := servicePort("db", "", v1.ProtocolTCP, "10.43.0.6", 5432, withEndpoints("10.42.1.7:5432@node-b"))
	old := servicePort("old", "", v1.ProtocolTCP, "10.43.0.9", 80, withEndpoints("10.42.1.8:80@node-b"))
	r := renderer{family: family{}, randomFully: true}
	first := r.render(newState(web, db, old), nil, nil, nil)

	// web loses an endpoint, old is deleted, db is untouched.
	web2 := servicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80, withEndpoints("10.42.0.2:8080@node-a"))
	changed := map[netproxy.ServicePortName]bool{web.Name: true, old.Name: true}
	second := r.render(newState(web2, db), changed, first.chains, nil)
	golden(t, "partial", second.payload)

	declared := chainsDeclared(second.payload)
	removedSEP := sepChain(web.Name, web.Endpoints[1])
	for _, c := range []struct {
		chain string
		want  bool
		why   string
	}{
		{svcChain(web.Name), true, "changed service chain rewritten"},
		{sepChain(web.Name, web.Endpoints[0]), true, "changed service's endpoint rewritten"},
		{svcChain(db.Name), false, "unchanged service chain left alone"},
		{sepChain(db.Name, db.Endpoints[0]), false, "unchanged endpoint chain left alone"},
		{servicesChain, true, "dispatch chain always rewritten"},
		{removedSEP, true, "stale endpoint chain declared for deletion"},
		{svcChain(old.Name), true, "deleted service's chain declared for deletion"},
	} {
		if declared[c.chain] != c.want {
			t.Errorf("%s: %s declared = %v, want %v", c.why, c.chain, declared[c.chain], c.want)
		}
	}
	for _, stale := range []string{removedSEP, svcChain(old.Name), sepChain(old.Name, old.Endpoints[0])} {
		if !bytes.Contains(second.payload, []byte("-X "+stale+"\n")) {
			t.Errorf("stale chain %s not deleted", stale)
		}
	}
	// The dispatch chain still sends db's traffic to its untouched chain.
	if !bytes.Contains(second.payload, []byte("-j "+svcChain(db.Name))) {
		t.Error("dispatch lost the unchanged service")
	}
	if got := second.chains[db.Name]; len(got) != 2 {
		t.Errorf("chains of unchanged db = %v, want kept from the previous sync", got)
	}
	if _, ok := second.chains[old.Name]; ok {
		t.Error("deleted service still tracked")
	}
}

func TestFullSyncRemovesUnknownServiceChains(t *testing.T) {
	web := servicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80, withEndpoints("10.42.0.2:8080@node-a"))
	existing := []string{"PREROUTING", "KITE-POSTROUTING", "KITE-SVC-AAAAAAAAAAAAAAAA", "KITE-SEP-BBBBBBBBBBBBBBBB", svcChain(web.Name), "KITE-SERVICES"}
	out := renderer{}.render(newState(web), nil, nil, existing)
	want := []string{"KITE-SEP-BBBBBBBBBBBBBBBB", "KITE-SVC-AAAAAAAAAAAAAAAA"}
	if strings.Join(out.stale, ",") != strings.Join(want, ",") {
		t.Errorf("stale = %v, want %v (never agent/cni's KITE-POSTROUTING or live chains)", out.stale, want)
	}
}
