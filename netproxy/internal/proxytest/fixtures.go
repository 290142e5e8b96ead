// Package proxytest holds what the tests of netproxy and its data paths
// share: builders for service ports and states, golden-file comparison
// and network namespaces to run a backend in. Only tests import it, so
// none of it ends up in the kite binary.
package proxytest

import (
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
)

// ThisNode is the node the fixtures' proxy runs on: endpoints there are
// local.
const ThisNode = "node-a"

// Addrs parses IP addresses, panicking on a malformed one.
func Addrs(in ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(in))
	for _, s := range in {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// Endpoints parses "ip:port@node" specs; a "!" prefix marks an endpoint
// not ready, "~" one serving while terminating.
func Endpoints(specs ...string) []netproxy.Endpoint {
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
		e.IP, e.Port, e.NodeName, e.Local = ap.Addr(), int32(ap.Port()), node, node == ThisNode
		out = append(out, e)
	}
	return out
}

// Option changes a service port ServicePort builds.
type Option func(*netproxy.ServicePort)

// WithEndpoints sets the endpoints from Endpoints specs.
func WithEndpoints(specs ...string) Option {
	return func(sp *netproxy.ServicePort) { sp.Endpoints = Endpoints(specs...) }
}

// ServicePort builds port (named port, "" for none) of Service ns/name
// on clusterIP:p.
func ServicePort(name, port string, proto v1.Protocol, clusterIP string, p int32, opts ...Option) *netproxy.ServicePort {
	sp := &netproxy.ServicePort{
		Name:       netproxy.ServicePortName{Namespace: "ns", Name: name, Port: port, Protocol: proto},
		Protocol:   proto,
		Port:       p,
		ClusterIPs: Addrs(clusterIP),
	}
	for _, o := range opts {
		o(sp)
	}
	return sp
}

// State is the desired state of ThisNode, with dual-stack pod networks,
// holding ports.
func State(ports ...*netproxy.ServicePort) *netproxy.State {
	s := &netproxy.State{
		NodeName:     ThisNode,
		NodeIPs:      Addrs("192.168.5.10"),
		ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("fd42::/56")},
		Services:     map[netproxy.ServicePortName]*netproxy.ServicePort{},
	}
	for _, sp := range ports {
		s.Services[sp.Name] = sp
	}
	return s
}
