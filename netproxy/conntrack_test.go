package netproxy

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// flowState is a State holding the given service ports.
func flowState(ports ...*ServicePort) *State {
	s := &State{NodeName: "node-a", Services: map[ServicePortName]*ServicePort{}}
	for _, sp := range ports {
		s.Services[sp.Name] = sp
	}
	return s
}

// flowPort is a service port whose endpoints are "ip" (ready) or "!ip"
// (not ready) on another node.
func flowPort(name string, proto v1.Protocol, clusterIP string, nodePort int32, eps ...string) *ServicePort {
	sp := &ServicePort{
		Name:       ServicePortName{Namespace: "ns", Name: name, Protocol: proto},
		Protocol:   proto,
		Port:       53,
		NodePort:   nodePort,
		ClusterIPs: []netip.Addr{addr(clusterIP)},
	}
	for _, e := range eps {
		ready := !strings.HasPrefix(e, "!")
		sp.Endpoints = append(sp.Endpoints, Endpoint{IP: addr(strings.TrimPrefix(e, "!")), Port: 53,
			NodeName: "node-b", Ready: ready, Serving: ready})
	}
	return sp
}

func TestConntrackDeletions(t *testing.T) {
	udp := func(eps ...string) *ServicePort { return flowPort("dns", v1.ProtocolUDP, "10.43.0.10", 30053, eps...) }
	tcp := func(eps ...string) *ServicePort { return flowPort("web", v1.ProtocolTCP, "10.43.0.5", 0, eps...) }
	tests := []struct {
		name       string
		ipv6       bool
		prev, next *State
		changed    map[ServicePortName]bool
		want       []string
	}{
		{
			name: "removed endpoint forgotten on every destination",
			prev: flowState(udp("10.42.0.2", "10.42.1.3")),
			next: flowState(udp("10.42.0.2")),
			want: []string{
				"-D -p udp --orig-dst 10.43.0.10 --dst-nat 10.42.1.3",
				"-D -p udp --orig-port-dst 30053 --dst-nat 10.42.1.3",
			},
		},
		{
			name: "first endpoint drops untranslated flows",
			prev: flowState(udp("!10.42.0.2")),
			next: flowState(udp("10.42.0.2")),
			want: []string{"-D -p udp --orig-dst 10.43.0.10", "-D -p udp --orig-port-dst 30053"},
		},
		{
			name: "deleted service",
			prev: flowState(udp("10.42.0.2")),
			next: flowState(),
			want: []string{
				"-D -p udp --orig-dst 10.43.0.10 --dst-nat 10.42.0.2",
				"-D -p udp --orig-port-dst 30053 --dst-nat 10.42.0.2",
			},
		},
		{
			name: "IPv6 flusher names its family",
			ipv6: true,
			prev: flowState(flowPort("dns6", v1.ProtocolUDP, "fd43::10", 0, "fd42::2")),
			next: flowState(),
			want: []string{"-D -p udp -f ipv6 --orig-dst fd43::10 --dst-nat fd42::2"},
		},
		{
			name: "other family ignored",
			ipv6: true,
			prev: flowState(udp("10.42.0.2")),
			next: flowState(),
		},
		{
			name: "TCP needs nothing",
			prev: flowState(tcp("10.42.0.2")),
			next: flowState(tcp()),
		},
		{
			name:    "partial sync looks at changed ports only",
			prev:    flowState(udp("10.42.0.2", "10.42.1.3")),
			next:    flowState(udp("10.42.0.2")),
			changed: map[ServicePortName]bool{tcp().Name: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &ConntrackFlusher{path: "conntrack", ipv6: tt.ipv6, log: slog.Default()}
			var got []string
			for _, args := range c.deletions(tt.prev, tt.next, tt.changed) {
				got = append(got, strings.Join(args, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("deletions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConntrackFlusherWithoutProgram(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	missing := NewConntrackFlusher("", false, nil)
	if missing.Path() != "" {
		t.Error("flusher enabled without a conntrack program in PATH")
	}
	// Without the program nothing runs, whatever changed.
	missing.ForgetStale(flowState(flowPort("dns", v1.ProtocolUDP, "10.43.0.10", 0, "10.42.0.2")), flowState(), nil)
}
