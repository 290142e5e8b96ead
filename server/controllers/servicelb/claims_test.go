package servicelb

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// svcAt is a Service created at epoch+age seconds offering ports written
// as 80 (TCP) or, for UDP, -53.
func svcAt(name string, age int, ports ...int32) *corev1.Service {
	svc := lbService(name)
	svc.CreationTimestamp = metav1.NewTime(epoch.Add(time.Duration(age) * time.Second))
	svc.Spec.Ports = nil
	for _, p := range ports {
		sp := corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP}
		if p < 0 {
			sp = corev1.ServicePort{Port: -p, Protocol: corev1.ProtocolUDP}
		}
		svc.Spec.Ports = append(svc.Spec.Ports, sp)
	}
	return svc
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func TestResolve(t *testing.T) {
	both := addrs("10.0.0.1", "10.0.0.2")
	// want is, per Service name, its granted IPs and its conflicts as
	// "port holder ips" strings.
	type result struct {
		ips       []string
		conflicts []string
	}
	tests := []struct {
		name     string
		claims   []claim
		reserved []int32
		want     map[string]result
	}{
		{
			name:   "different ports share the nodes",
			claims: []claim{{svcAt("a", 0, 80), both}, {svcAt("b", 1, 443), both}},
			want: map[string]result{
				"a": {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"b": {ips: []string{"10.0.0.1", "10.0.0.2"}},
			},
		},
		{
			name:   "same port, other protocol: no conflict",
			claims: []claim{{svcAt("dns-tcp", 0, 53), both}, {svcAt("dns-udp", 1, -53), both}},
			want: map[string]result{
				"dns-tcp": {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"dns-udp": {ips: []string{"10.0.0.1", "10.0.0.2"}},
			},
		},
		{
			name:   "the older service keeps the port whatever the claim order",
			claims: []claim{{svcAt("young", 5, 80), both}, {svcAt("old", 1, 80), both}},
			want: map[string]result{
				"old":   {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"young": {conflicts: []string{"80/TCP default/old [10.0.0.1 10.0.0.2]"}},
			},
		},
		{
			name:   "created in the same second: the name decides",
			claims: []claim{{svcAt("b", 0, 80), both}, {svcAt("a", 0, 80), both}},
			want: map[string]result{
				"a": {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"b": {conflicts: []string{"80/TCP default/a [10.0.0.1 10.0.0.2]"}},
			},
		},
		{
			name:   "one shared port withholds the whole address",
			claims: []claim{{svcAt("a", 0, 80), both}, {svcAt("b", 1, 443, 80), both}},
			want: map[string]result{
				"a": {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"b": {conflicts: []string{"80/TCP default/a [10.0.0.1 10.0.0.2]"}},
			},
		},
		{
			name:   "only the overlapping addresses are withheld",
			claims: []claim{{svcAt("pool", 0, 80), addrs("10.0.0.1")}, {svcAt("all", 1, 80), both}},
			want: map[string]result{
				"pool": {ips: []string{"10.0.0.1"}},
				"all":  {ips: []string{"10.0.0.2"}, conflicts: []string{"80/TCP default/pool [10.0.0.1]"}},
			},
		},
		{
			name: "a pending service holds nothing: the third gets the port it blocked",
			claims: []claim{
				{svcAt("a", 0, 80), both},
				{svcAt("b", 1, 80, 443), both},
				{svcAt("c", 2, 443), both},
			},
			want: map[string]result{
				"a": {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"b": {conflicts: []string{"80/TCP default/a [10.0.0.1 10.0.0.2]"}},
				"c": {ips: []string{"10.0.0.1", "10.0.0.2"}},
			},
		},
		{
			name:   "conflicts with two holders are both told",
			claims: []claim{{svcAt("web", 0, 80), both}, {svcAt("tls", 1, 443), both}, {svcAt("both", 2, 80, 443), both}},
			want: map[string]result{
				"web":  {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"tls":  {ips: []string{"10.0.0.1", "10.0.0.2"}},
				"both": {conflicts: []string{"80/TCP default/web [10.0.0.1 10.0.0.2]", "443/TCP default/tls [10.0.0.1 10.0.0.2]"}},
			},
		},
		{
			name:     "the ingress's ports are reserved for TCP only",
			claims:   []claim{{svcAt("a", 0, 80), both}, {svcAt("b", 1, 8080), both}},
			reserved: []int32{80, 443},
			want: map[string]result{
				"a": {conflicts: []string{"80/TCP ingress [10.0.0.1 10.0.0.2]"}},
				"b": {ips: []string{"10.0.0.1", "10.0.0.2"}},
			},
		},
		{
			name:   "no addresses: nothing granted, nothing held",
			claims: []claim{{svcAt("a", 0, 80), nil}, {svcAt("b", 1, 80), both}},
			want: map[string]result{
				"a": {},
				"b": {ips: []string{"10.0.0.1", "10.0.0.2"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.claims, tt.reserved)
			if len(got) != len(tt.want) {
				t.Fatalf("%d grants, want %d", len(got), len(tt.want))
			}
			for name, want := range tt.want {
				g, ok := got["default/"+name]
				if !ok {
					t.Fatalf("no grant for %s", name)
				}
				var conflicts []string
				for _, c := range g.conflicts {
					holder := "ingress"
					if c.holder != nil {
						holder = key(c.holder)
					}
					conflicts = append(conflicts, c.port.String()+" "+holder+" "+fmtIPs(c.ips))
				}
				if !slices.Equal(strs(g.ips), want.ips) || !slices.Equal(conflicts, want.conflicts) {
					t.Errorf("%s: got ips %v conflicts %q; want ips %v conflicts %q", name, strs(g.ips), conflicts, want.ips, want.conflicts)
				}
			}
		})
	}
}

func fmtIPs(ips []netip.Addr) string {
	s := "["
	for i, ip := range ips {
		if i > 0 {
			s += " "
		}
		s += ip.String()
	}
	return s + "]"
}

func TestDescribe(t *testing.T) {
	holder := svcAt("web", 0, 80)
	got := describe([]conflict{{port: portKey{80, corev1.ProtocolTCP}, holder: holder, ips: addrs("10.0.0.1", "fd00::1")}})
	want := "port 80/TCP on 10.0.0.1, fd00::1 is held by LoadBalancer Service default/web"
	if got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	got = describe([]conflict{{port: portKey{443, corev1.ProtocolTCP}, ips: addrs("10.0.0.1")}})
	want = "port 443/TCP on 10.0.0.1 is held by kite's built-in ingress (--disable ingress frees it)"
	if got != want {
		t.Errorf("describe of the ingress's port = %q, want %q", got, want)
	}
}

func TestClaimChanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(*corev1.Service)
		want   bool
	}{
		{"status only", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}
		}, false},
		{"ports reordered", func(s *corev1.Service) { slices.Reverse(s.Spec.Ports) }, false},
		{"port added", func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 8080}) }, true},
		{"protocol changed", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP }, true},
		{"type changed", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }, true},
		{"pool changed", func(s *corev1.Service) { s.Labels[LBPoolLabel] = "edge" }, true},
		{"traffic policy changed", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }, true},
		{"families changed", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := svcAt("a", 0, 80, 443)
			cur := old.DeepCopy()
			tt.change(cur)
			if got := claimChanged(old, cur); got != tt.want {
				t.Errorf("claimChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
