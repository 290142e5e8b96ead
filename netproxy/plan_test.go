package netproxy_test

import (
	"net/netip"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
)

func TestPlanFor(t *testing.T) {
	type option = proxytest.Option
	nodePort := func(sp *netproxy.ServicePort) { sp.NodePort = 30080 }
	local := func(internal, external bool) option {
		return func(sp *netproxy.ServicePort) { sp.InternalPolicyLocal, sp.ExternalPolicyLocal = internal, external }
	}
	loadBalancer := func(ips string, ranges ...string) option {
		return func(sp *netproxy.ServicePort) {
			sp.LoadBalancerIPs = proxytest.Addrs(ips)
			for _, r := range ranges {
				sp.LoadBalancerSourceRanges = append(sp.LoadBalancerSourceRanges, netip.MustParsePrefix(r))
			}
		}
	}
	eps := proxytest.Endpoints
	tests := []struct {
		name string
		ipv6 bool
		opts []option
		want *netproxy.Plan // ClusterIPs default to 10.43.0.5 when set
	}{
		{name: "no cluster IP in the family", ipv6: true,
			opts: []option{proxytest.WithEndpoints("10.42.0.2:80@node-a")}},
		{name: "cluster IP only: service chain, no external chain",
			opts: []option{proxytest.WithEndpoints("10.42.0.2:80@node-a", "10.42.1.3:80@node-b")},
			want: &netproxy.Plan{
				ClusterEndpoints: eps("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"), LocalEndpoints: eps("10.42.0.2:80@node-a"),
				InternalEndpoints: eps("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"), ExternalEndpoints: eps("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"),
				UseServiceChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "node port without endpoints: no chains",
			opts: []option{proxytest.WithEndpoints("!10.42.0.2:80@node-a"), nodePort},
			want: &netproxy.Plan{HasExternal: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain}},
		{name: "node port: external and service chains",
			opts: []option{proxytest.WithEndpoints("10.42.1.3:80@node-b"), nodePort},
			want: &netproxy.Plan{HasExternal: true,
				ClusterEndpoints: eps("10.42.1.3:80@node-b"), InternalEndpoints: eps("10.42.1.3:80@node-b"), ExternalEndpoints: eps("10.42.1.3:80@node-b"),
				UseServiceChain: true, UseExternalChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "internal Local without external: local chain only",
			opts: []option{proxytest.WithEndpoints("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"), local(true, false)},
			want: &netproxy.Plan{
				ClusterEndpoints: eps("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"), LocalEndpoints: eps("10.42.0.2:80@node-a"),
				InternalEndpoints: eps("10.42.0.2:80@node-a"), ExternalEndpoints: eps("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"),
				UseLocalChain: true, InternalTarget: netproxy.LocalChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "both Local with a node port: the external chain needs the service chain for pods and the node",
			opts: []option{proxytest.WithEndpoints("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"), local(true, true), nodePort},
			want: &netproxy.Plan{HasExternal: true,
				ClusterEndpoints: eps("10.42.0.2:80@node-a", "10.42.1.3:80@node-b"), LocalEndpoints: eps("10.42.0.2:80@node-a"),
				InternalEndpoints: eps("10.42.0.2:80@node-a"), ExternalEndpoints: eps("10.42.0.2:80@node-a"),
				UseServiceChain: true, UseLocalChain: true, UseExternalChain: true, InternalTarget: netproxy.LocalChain, ExternalTarget: netproxy.LocalChain,
			}},
		{name: "external Local with no local endpoint: no local chain",
			opts: []option{proxytest.WithEndpoints("10.42.1.3:80@node-b"), local(false, true), nodePort},
			want: &netproxy.Plan{HasExternal: true,
				ClusterEndpoints: eps("10.42.1.3:80@node-b"), InternalEndpoints: eps("10.42.1.3:80@node-b"),
				UseServiceChain: true, UseExternalChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.LocalChain,
			}},
		{name: "terminating endpoints serve when none is ready",
			opts: []option{proxytest.WithEndpoints("~10.42.0.2:80@node-a", "!10.42.1.3:80@node-b")},
			want: &netproxy.Plan{
				ClusterEndpoints: eps("~10.42.0.2:80@node-a"), LocalEndpoints: eps("~10.42.0.2:80@node-a"),
				InternalEndpoints: eps("~10.42.0.2:80@node-a"), ExternalEndpoints: eps("~10.42.0.2:80@node-a"),
				UseServiceChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "a ready endpoint of the other family does not hide a terminating one",
			opts: []option{proxytest.WithEndpoints("~10.42.0.2:80@node-a", "[fd42::2]:80@node-a")},
			want: &netproxy.Plan{
				ClusterEndpoints: eps("~10.42.0.2:80@node-a"), LocalEndpoints: eps("~10.42.0.2:80@node-a"),
				InternalEndpoints: eps("~10.42.0.2:80@node-a"), ExternalEndpoints: eps("~10.42.0.2:80@node-a"),
				UseServiceChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "load balancer with source ranges: firewall chain",
			opts: []option{proxytest.WithEndpoints("10.42.1.3:80@node-b"), loadBalancer("192.0.2.10", "198.51.100.0/24")},
			want: &netproxy.Plan{LoadBalancerIPs: proxytest.Addrs("192.0.2.10"), HasExternal: true,
				ClusterEndpoints: eps("10.42.1.3:80@node-b"), InternalEndpoints: eps("10.42.1.3:80@node-b"), ExternalEndpoints: eps("10.42.1.3:80@node-b"),
				UseServiceChain: true, UseExternalChain: true, UseFirewallChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "source ranges only in the other family still need the firewall chain",
			opts: []option{proxytest.WithEndpoints("10.42.1.3:80@node-b"), loadBalancer("192.0.2.10", "2001:db8::/64")},
			want: &netproxy.Plan{LoadBalancerIPs: proxytest.Addrs("192.0.2.10"), HasExternal: true,
				ClusterEndpoints: eps("10.42.1.3:80@node-b"), InternalEndpoints: eps("10.42.1.3:80@node-b"), ExternalEndpoints: eps("10.42.1.3:80@node-b"),
				UseServiceChain: true, UseExternalChain: true, UseFirewallChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "load balancer IP of the other family only: no external chain",
			opts: []option{proxytest.WithEndpoints("10.42.1.3:80@node-b"), loadBalancer("2001:db8::10", "198.51.100.0/24")},
			want: &netproxy.Plan{
				ClusterEndpoints: eps("10.42.1.3:80@node-b"), InternalEndpoints: eps("10.42.1.3:80@node-b"), ExternalEndpoints: eps("10.42.1.3:80@node-b"),
				UseServiceChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
		{name: "IPv6 family picks IPv6 addresses and endpoints", ipv6: true,
			opts: []option{proxytest.WithEndpoints("10.42.0.2:80@node-a", "[fd42::2]:80@node-a"), func(sp *netproxy.ServicePort) {
				sp.ClusterIPs = proxytest.Addrs("10.43.0.5", "fd43::5")
				sp.ExternalIPs = proxytest.Addrs("192.0.2.7", "2001:db8::7")
			}},
			want: &netproxy.Plan{ClusterIPs: proxytest.Addrs("fd43::5"), ExternalIPs: proxytest.Addrs("2001:db8::7"), HasExternal: true,
				ClusterEndpoints: eps("[fd42::2]:80@node-a"), LocalEndpoints: eps("[fd42::2]:80@node-a"),
				InternalEndpoints: eps("[fd42::2]:80@node-a"), ExternalEndpoints: eps("[fd42::2]:80@node-a"),
				UseServiceChain: true, UseExternalChain: true, InternalTarget: netproxy.ServiceChain, ExternalTarget: netproxy.ServiceChain,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := proxytest.ServicePort("web", "", v1.ProtocolTCP, "10.43.0.5", 80, tt.opts...)
			if tt.want != nil && tt.want.ClusterIPs == nil {
				tt.want.ClusterIPs = proxytest.Addrs("10.43.0.5")
			}
			if got := sp.PlanFor(tt.ipv6); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PlanFor(ipv6=%v)\n got %+v\nwant %+v", tt.ipv6, got, tt.want)
			}
		})
	}
}

func TestTranslatedEndpoints(t *testing.T) {
	cluster := proxytest.Endpoints("10.42.0.2:80@node-a", "10.42.1.3:80@node-b")
	local := proxytest.Endpoints("10.42.0.2:80@node-a")
	tests := []struct {
		name         string
		service, loc bool
		want         []netproxy.Endpoint
	}{
		{"no chains", false, false, nil},
		{"service chain", true, false, cluster},
		{"local chain", false, true, local},
		{"both, cluster first, a local endpoint twice", true, true, append(append([]netproxy.Endpoint{}, cluster...), local...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &netproxy.Plan{ClusterEndpoints: cluster, LocalEndpoints: local, UseServiceChain: tt.service, UseLocalChain: tt.loc}
			if got := p.TranslatedEndpoints(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
