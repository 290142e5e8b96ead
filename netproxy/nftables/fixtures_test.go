package nftables

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const thisNode = "node-a"

func addrs(in ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(in))
	for _, s := range in {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// endpoints parses "ip:port@node" specs; a "!" prefix marks an endpoint
// not ready, "~" one serving while terminating.
func endpoints(specs ...string) []netproxy.Endpoint {
	var out []netproxy.Endpoint
	for _, spec := range specs {
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
		out = append(out, e)
	}
	return out
}

type option func(*netproxy.ServicePort)

func withEndpoints(specs ...string) option {
	return func(sp *netproxy.ServicePort) { sp.Endpoints = endpoints(specs...) }
}

func servicePort(name, port string, proto v1.Protocol, clusterIP string, p int32, opts ...option) *netproxy.ServicePort {
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

// golden compares got with testdata/<name>.golden (rewritten with -update).
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
