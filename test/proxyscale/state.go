// Package proxyscale builds the large synthetic service-proxy states the
// data-path benchmarks measure (issue 5 sets its goals at 10,000 Services
// with 5 endpoints each): the same state for `test/bench -only proxy` and
// the backends' Go benchmarks, so their figures compare.
package proxyscale

import (
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
)

// Name names the i-th service port of a State.
func Name(i int) netproxy.ServicePortName {
	return netproxy.ServicePortName{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i), Port: "http", Protocol: v1.ProtocolTCP}
}

// State is services ClusterIP service ports with endpoints ready pod
// endpoints each, spread over 10 nodes, as seen from node-0. shift moves
// the first port's first endpoint to another address: State(n, e, 1) is
// State(n, e, 0) after a one-endpoint change.
func State(services, endpoints, shift int) *netproxy.State {
	st := &netproxy.State{
		NodeName:     "node-0",
		NodeIPs:      []netip.Addr{netip.MustParseAddr("10.250.0.10")},
		ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16")},
		Services:     make(map[netproxy.ServicePortName]*netproxy.ServicePort, services),
	}
	for i := range services {
		sp := &netproxy.ServicePort{
			Name:       Name(i),
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
