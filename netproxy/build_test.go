package netproxy

import (
	"net/netip"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

const thisNode = "node-a"

// endpointStrings renders endpoints as "ip:port" for comparison.
func endpointStrings(eps []Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.String())
	}
	return out
}

func TestEndpointSelection(t *testing.T) {
	httpPort := []v1.ServicePort{svcPort("http", 80, v1.ProtocolTCP)}
	httpSlicePort := []discoveryv1.EndpointPort{slicePortSpec("http", 8080, v1.ProtocolTCP)}
	local := func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeNodePort
		s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
	}
	tests := []struct {
		name                         string
		svc                          *v1.Service
		slices                       []*discoveryv1.EndpointSlice
		wantCluster, wantLocal       []string
		wantInternal, wantExternal   []string
		wantInternalLocal, wantExtLo bool
	}{
		{
			name: "ready endpoints only",
			svc:  service("web", "10.43.0.5", httpPort),
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", httpSlicePort,
				readyEp("10.42.0.2", thisNode), notReadyEp("10.42.0.3", thisNode), terminatingEp("10.42.1.4", "node-b", true))},
			wantCluster:  []string{"10.42.0.2:8080"},
			wantLocal:    []string{"10.42.0.2:8080"},
			wantInternal: []string{"10.42.0.2:8080"},
			wantExternal: []string{"10.42.0.2:8080"},
		},
		{
			name: "serving terminating endpoints when none is ready",
			svc:  service("web", "10.43.0.5", httpPort),
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", httpSlicePort,
				terminatingEp("10.42.0.2", thisNode, true), terminatingEp("10.42.1.3", "node-b", false), notReadyEp("10.42.1.4", "node-b"))},
			wantCluster:  []string{"10.42.0.2:8080"},
			wantLocal:    []string{"10.42.0.2:8080"},
			wantInternal: []string{"10.42.0.2:8080"},
			wantExternal: []string{"10.42.0.2:8080"},
		},
		{
			name: "slices merged and addresses deduplicated, ready copy wins",
			svc:  service("web", "10.43.0.5", httpPort),
			slices: []*discoveryv1.EndpointSlice{
				slice("web", "web-1", httpSlicePort, notReadyEp("10.42.0.2", thisNode), readyEp("10.42.1.9", "node-b")),
				slice("web", "web-2", httpSlicePort, readyEp("10.42.0.2", thisNode)),
			},
			wantCluster:  []string{"10.42.0.2:8080", "10.42.1.9:8080"},
			wantLocal:    []string{"10.42.0.2:8080"},
			wantInternal: []string{"10.42.0.2:8080", "10.42.1.9:8080"},
			wantExternal: []string{"10.42.0.2:8080", "10.42.1.9:8080"},
		},
		{
			name: "local traffic policies",
			svc:  service("web", "10.43.0.5", httpPort, local),
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", httpSlicePort,
				readyEp("10.42.0.2", thisNode), readyEp("10.42.1.9", "node-b"))},
			wantCluster:       []string{"10.42.0.2:8080", "10.42.1.9:8080"},
			wantLocal:         []string{"10.42.0.2:8080"},
			wantInternal:      []string{"10.42.0.2:8080"},
			wantExternal:      []string{"10.42.0.2:8080"},
			wantInternalLocal: true,
			wantExtLo:         true,
		},
		{
			name: "local policies without local endpoints",
			svc:  service("web", "10.43.0.5", httpPort, local),
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", httpSlicePort,
				readyEp("10.42.1.9", "node-b"), terminatingEp("10.42.0.7", thisNode, false))},
			wantCluster:       []string{"10.42.1.9:8080"},
			wantInternalLocal: true,
			wantExtLo:         true,
		},
		{
			name: "local serving-terminating endpoint used when no local one is ready",
			svc:  service("web", "10.43.0.5", httpPort, local),
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", httpSlicePort,
				readyEp("10.42.1.9", "node-b"), terminatingEp("10.42.0.7", thisNode, true))},
			wantCluster:       []string{"10.42.1.9:8080"},
			wantLocal:         []string{"10.42.0.7:8080"},
			wantInternal:      []string{"10.42.0.7:8080"},
			wantExternal:      []string{"10.42.0.7:8080"},
			wantInternalLocal: true,
			wantExtLo:         true,
		},
		{
			name: "externalTrafficPolicy ignored without external access",
			svc: service("web", "10.43.0.5", httpPort, func(s *v1.Service) {
				s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			}),
			slices:       []*discoveryv1.EndpointSlice{slice("web", "web-1", httpSlicePort, readyEp("10.42.1.9", "node-b"))},
			wantCluster:  []string{"10.42.1.9:8080"},
			wantInternal: []string{"10.42.1.9:8080"},
			wantExternal: []string{"10.42.1.9:8080"},
		},
		{
			name: "slice of another port name or protocol contributes nothing",
			svc:  service("web", "10.43.0.5", httpPort),
			slices: []*discoveryv1.EndpointSlice{
				slice("web", "web-1", []discoveryv1.EndpointPort{slicePortSpec("metrics", 9100, v1.ProtocolTCP)}, readyEp("10.42.0.2", thisNode)),
				slice("web", "web-2", []discoveryv1.EndpointPort{slicePortSpec("http", 8080, v1.ProtocolUDP)}, readyEp("10.42.0.3", thisNode)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ports := buildServicePorts(tt.svc, tt.slices, thisNode)
			if len(ports) != 1 {
				t.Fatalf("got %d service ports, want 1", len(ports))
			}
			sp := ports[0]
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"cluster", endpointStrings(sp.ClusterEndpoints()), tt.wantCluster},
				{"local", endpointStrings(sp.LocalEndpoints()), tt.wantLocal},
				{"internal", endpointStrings(sp.InternalEndpoints()), tt.wantInternal},
				{"external", endpointStrings(sp.ExternalEndpoints()), tt.wantExternal},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s endpoints = %v, want %v", c.what, c.got, c.want)
				}
			}
			if sp.InternalPolicyLocal != tt.wantInternalLocal || sp.ExternalPolicyLocal != tt.wantExtLo {
				t.Errorf("policies local internal=%v external=%v, want %v %v",
					sp.InternalPolicyLocal, sp.ExternalPolicyLocal, tt.wantInternalLocal, tt.wantExtLo)
			}
		})
	}
}

func TestNamedTargetPortsResolvedPerSlice(t *testing.T) {
	// Two pod generations expose the named targetPort "web" on different
	// container ports; the controller wrote one slice per port number.
	svc := service("web", "10.43.0.5", []v1.ServicePort{svcPort("http", 80, v1.ProtocolTCP), svcPort("dns", 53, v1.ProtocolUDP)})
	list := []*discoveryv1.EndpointSlice{
		slice("web", "web-old", []discoveryv1.EndpointPort{slicePortSpec("http", 8080, v1.ProtocolTCP), slicePortSpec("dns", 5353, v1.ProtocolUDP)},
			readyEp("10.42.0.2", thisNode)),
		slice("web", "web-new", []discoveryv1.EndpointPort{slicePortSpec("http", 9090, v1.ProtocolTCP), slicePortSpec("dns", 5354, v1.ProtocolUDP)},
			readyEp("10.42.0.3", thisNode)),
	}
	got := map[string][]string{}
	for _, sp := range buildServicePorts(svc, list, thisNode) {
		got[sp.Name.String()+"/"+string(sp.Protocol)] = endpointStrings(sp.Endpoints)
	}
	want := map[string][]string{
		"ns/web:http/TCP": {"10.42.0.2:8080", "10.42.0.3:9090"},
		"ns/web:dns/UDP":  {"10.42.0.2:5353", "10.42.0.3:5354"},
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s endpoints = %v, want %v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got service ports %v, want %v", got, want)
	}
}

func TestServiceFields(t *testing.T) {
	lb := service("lb", "10.43.0.9", []v1.ServicePort{{Name: "", Port: 443, NodePort: 30443}}, func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.ClusterIPs = []string{"10.43.0.9", "fd00::9"}
		s.Spec.ExternalIPs = []string{"192.0.2.7", "bad"}
		s.Spec.LoadBalancerSourceRanges = []string{" 198.51.100.0/24 ", "203.0.113.5/32"}
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{
			{IP: "192.0.2.10"}, {IP: "192.0.2.11", IPMode: ptr.To(v1.LoadBalancerIPModeProxy)}, {Hostname: "lb.example"},
		}
	})
	ports := buildServicePorts(lb, nil, thisNode)
	if len(ports) != 1 {
		t.Fatalf("got %d service ports, want 1", len(ports))
	}
	sp := ports[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", sp.Name, ServicePortName{Namespace: "ns", Name: "lb", Protocol: v1.ProtocolTCP}},
		{"cluster IPs", sp.ClusterIPs, []netip.Addr{addr("10.43.0.9"), addr("fd00::9")}},
		{"external IPs", sp.ExternalIPs, []netip.Addr{addr("192.0.2.7")}},
		{"LB IPs", sp.LoadBalancerIPs, []netip.Addr{addr("192.0.2.10")}},
		{"source ranges", sp.LoadBalancerSourceRanges, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.5/32")}},
		{"node port", sp.NodePort, int32(30443)},
		{"affinity", sp.SessionAffinityTimeout, v1.DefaultClientIPServiceAffinitySeconds},
	}
	for _, c := range checks {
		if !equalAny(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func equalAny(a, b any) bool {
	switch av := a.(type) {
	case []netip.Addr:
		return slices.Equal(av, b.([]netip.Addr))
	case []netip.Prefix:
		return slices.Equal(av, b.([]netip.Prefix))
	}
	return a == b
}

func TestSkippedServices(t *testing.T) {
	ports := []v1.ServicePort{svcPort("http", 80, v1.ProtocolTCP)}
	tests := []struct {
		name string
		svc  *v1.Service
	}{
		{"headless", service("h", v1.ClusterIPNone, ports)},
		{"external name", service("x", "", ports, func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeExternalName })},
		{"other proxy", service("o", "10.43.0.4", ports, func(s *v1.Service) {
			s.Labels = map[string]string{proxyNameLabel: "someone-else"}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildServicePorts(tt.svc, nil, thisNode); len(got) != 0 {
				t.Errorf("got %d service ports, want none", len(got))
			}
		})
	}
}
