package servicelb

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testNode is a Ready node with addresses given as "InternalIP=10.0.0.1"
// or "ExternalIP=1.2.3.4".
func testNode(name string, addrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, a := range addrs {
		for i := range a {
			if a[i] == '=' {
				n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(a[:i]), Address: a[i+1:]})
				break
			}
		}
	}
	return n
}

func withLabel(n *corev1.Node, k, v string) *corev1.Node {
	n.Labels[k] = v
	return n
}

func notReady(n *corev1.Node) *corev1.Node {
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	return n
}

func deleting(n *corev1.Node) *corev1.Node {
	now := metav1.Now()
	n.DeletionTimestamp = &now
	return n
}

func lbService(name string, families ...corev1.IPFamily) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{}},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeLoadBalancer,
			IPFamilies: families,
			Ports:      []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
}

func strs(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func TestPoolAddresses(t *testing.T) {
	v4 := []corev1.IPFamily{corev1.IPv4Protocol}
	v6v4 := []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	pooled := lbService("web", v4...)
	pooled.Labels[LBPoolLabel] = "edge"
	tests := []struct {
		name  string
		nodes []*corev1.Node
		svc   *corev1.Service
		only  map[string]bool
		want  []string
	}{
		{
			name:  "internal IPs sorted numerically and deduplicated",
			nodes: []*corev1.Node{testNode("a", "InternalIP=10.0.0.10"), testNode("b", "InternalIP=10.0.0.9"), testNode("c", "InternalIP=10.0.0.9")},
			svc:   lbService("web", v4...),
			want:  []string{"10.0.0.9", "10.0.0.10"},
		},
		{
			name: "a node's external IP replaces its internal one, per node",
			nodes: []*corev1.Node{
				testNode("a", "InternalIP=10.0.0.1", "ExternalIP=203.0.113.1"),
				testNode("b", "InternalIP=10.0.0.2"),
			},
			svc:  lbService("web", v4...),
			want: []string{"10.0.0.2", "203.0.113.1"},
		},
		{
			name:  "hostnames and unparsable addresses are ignored",
			nodes: []*corev1.Node{testNode("a", "Hostname=a", "InternalIP=bogus", "InternalIP=10.0.0.1")},
			svc:   lbService("web", v4...),
			want:  []string{"10.0.0.1"},
		},
		{
			name: "not ready, deleting, unknown readiness and excluded nodes are skipped",
			nodes: []*corev1.Node{
				testNode("ok", "InternalIP=10.0.0.1"),
				notReady(testNode("down", "InternalIP=10.0.0.2")),
				deleting(testNode("gone", "InternalIP=10.0.0.3")),
				func() *corev1.Node { n := testNode("new", "InternalIP=10.0.0.4"); n.Status.Conditions = nil; return n }(),
				withLabel(testNode("excluded", "InternalIP=10.0.0.5"), corev1.LabelNodeExcludeBalancers, ""),
			},
			svc:  lbService("web", v4...),
			want: []string{"10.0.0.1"},
		},
		{
			name: "once a node opts in, only opted-in nodes serve",
			nodes: []*corev1.Node{
				withLabel(testNode("in", "InternalIP=10.0.0.1"), EnableLBLabel, "true"),
				testNode("plain", "InternalIP=10.0.0.2"),
				withLabel(testNode("out", "InternalIP=10.0.0.3"), EnableLBLabel, "false"),
			},
			svc:  lbService("web", v4...),
			want: []string{"10.0.0.1"},
		},
		{
			name: "an opt-out label alone leaves no node serving, as with k3s",
			nodes: []*corev1.Node{
				testNode("plain", "InternalIP=10.0.0.2"),
				withLabel(testNode("out", "InternalIP=10.0.0.3"), EnableLBLabel, "false"),
			},
			svc:  lbService("web", v4...),
			want: []string{},
		},
		{
			name: "a pooled service is served by its pool only",
			nodes: []*corev1.Node{
				withLabel(withLabel(testNode("edge", "InternalIP=10.0.0.1"), EnableLBLabel, "true"), LBPoolLabel, "edge"),
				withLabel(withLabel(testNode("core", "InternalIP=10.0.0.2"), EnableLBLabel, "true"), LBPoolLabel, "core"),
				withLabel(testNode("any", "InternalIP=10.0.0.3"), EnableLBLabel, "true"),
			},
			svc:  pooled,
			want: []string{"10.0.0.1"},
		},
		{
			name:  "without opted-in nodes the pool label does not matter",
			nodes: []*corev1.Node{testNode("a", "InternalIP=10.0.0.1")},
			svc:   pooled,
			want:  []string{"10.0.0.1"},
		},
		{
			name: "families in the service's order; per family external before internal",
			nodes: []*corev1.Node{
				testNode("a", "InternalIP=10.0.0.1", "InternalIP=fd00::1", "ExternalIP=203.0.113.1"),
				testNode("b", "InternalIP=10.0.0.2", "InternalIP=fd00::2", "ExternalIP=2001:db8::2"),
			},
			svc:  lbService("web", v6v4...),
			want: []string{"2001:db8::2", "fd00::1", "10.0.0.2", "203.0.113.1"},
		},
		{
			name:  "local traffic: only the nodes named",
			nodes: []*corev1.Node{testNode("a", "InternalIP=10.0.0.1"), testNode("b", "InternalIP=10.0.0.2"), notReady(testNode("c", "InternalIP=10.0.0.3"))},
			svc:   lbService("web", v4...),
			only:  map[string]bool{"b": true, "c": true},
			want:  []string{"10.0.0.2"},
		},
		{
			name:  "local traffic without ready endpoints: nothing",
			nodes: []*corev1.Node{testNode("a", "InternalIP=10.0.0.1")},
			svc:   lbService("web", v4...),
			only:  map[string]bool{},
			want:  []string{},
		},
		{
			name:  "an IPv4-only service gets no IPv6 addresses",
			nodes: []*corev1.Node{testNode("a", "InternalIP=fd00::1", "InternalIP=10.0.0.1")},
			svc:   lbService("web", v4...),
			want:  []string{"10.0.0.1"},
		},
		{
			name:  "an IPv6-only service on IPv4 nodes gets nothing",
			nodes: []*corev1.Node{testNode("a", "InternalIP=10.0.0.1")},
			svc:   lbService("web", corev1.IPv6Protocol),
			want:  []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strs(newNodePool(tt.nodes).addresses(tt.svc, tt.only))
			if !slices.Equal(got, tt.want) {
				t.Errorf("addresses = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodeChanged(t *testing.T) {
	base := func() *corev1.Node { return testNode("a", "InternalIP=10.0.0.1") }
	tests := []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"heartbeat only", func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = metav1.Now() }, false},
		{"became not ready", func(n *corev1.Node) { notReady(n) }, true},
		{"being deleted", func(n *corev1.Node) { deleting(n) }, true},
		{"new address", func(n *corev1.Node) {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"})
		}, true},
		{"opted in", func(n *corev1.Node) { withLabel(n, EnableLBLabel, "true") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := base()
			tt.change(cur)
			if got := nodeChanged(base(), cur); got != tt.want {
				t.Errorf("nodeChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
