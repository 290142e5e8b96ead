package ingressstatus

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testNode is a node, Ready when ready, with addresses written as
// "InternalIP=10.0.0.1" or "ExternalIP=203.0.113.1".
func testNode(name string, ready bool, addrs ...string) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}
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

func TestAddresses(t *testing.T) {
	excluded := testNode("excluded", true, "InternalIP=10.0.0.7")
	excluded.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: "true"}
	tests := []struct {
		name  string
		nodes []*corev1.Node
		want  []string
	}{
		{
			name:  "sorted numerically and deduplicated",
			nodes: []*corev1.Node{testNode("a", true, "InternalIP=10.0.0.10"), testNode("b", true, "InternalIP=10.0.0.9"), testNode("c", true, "InternalIP=10.0.0.9")},
			want:  []string{"10.0.0.9", "10.0.0.10"},
		},
		{
			name:  "an external IP stands for its node",
			nodes: []*corev1.Node{testNode("a", true, "InternalIP=10.0.0.1", "ExternalIP=203.0.113.1"), testNode("b", true, "InternalIP=10.0.0.2")},
			want:  []string{"10.0.0.2", "203.0.113.1"},
		},
		{
			name:  "not ready and excluded nodes are left out",
			nodes: []*corev1.Node{testNode("a", true, "InternalIP=10.0.0.1"), testNode("down", false, "InternalIP=10.0.0.2"), excluded},
			want:  []string{"10.0.0.1"},
		},
		{
			name:  "dual stack: IPv4 first, each family sorted",
			nodes: []*corev1.Node{testNode("a", true, "InternalIP=fd00::2", "InternalIP=10.0.0.2"), testNode("b", true, "InternalIP=fd00::1", "InternalIP=10.0.0.1")},
			want:  []string{"10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2"},
		},
		{
			name:  "no usable node: nothing",
			nodes: []*corev1.Node{testNode("down", false, "InternalIP=10.0.0.2")},
			want:  []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ipsOf(loadBalancerOf(addresses(tt.nodes)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("addresses = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadBalancerOf(t *testing.T) {
	if lb := loadBalancerOf(nil); lb != nil {
		t.Errorf("loadBalancerOf(nil) = %v, want nil (an empty status)", lb)
	}
	got := loadBalancerOf(addresses([]*corev1.Node{testNode("a", true, "InternalIP=10.0.0.1")}))
	want := []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1"}}
	if !slices.EqualFunc(got, want, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname && a.Ports == nil && b.Ports == nil
	}) {
		t.Errorf("loadBalancerOf = %+v, want %+v", got, want)
	}
}

func TestLoadBalancerEqual(t *testing.T) {
	ip := func(s string) networkingv1.IngressLoadBalancerIngress {
		return networkingv1.IngressLoadBalancerIngress{IP: s}
	}
	withPort := ip("10.0.0.1")
	withPort.Ports = []networkingv1.IngressPortStatus{{Port: 80, Protocol: corev1.ProtocolTCP}}
	tests := []struct {
		name string
		a, b []networkingv1.IngressLoadBalancerIngress
		want bool
	}{
		{"both empty", nil, []networkingv1.IngressLoadBalancerIngress{}, true},
		{"same", []networkingv1.IngressLoadBalancerIngress{ip("10.0.0.1"), ip("10.0.0.2")}, []networkingv1.IngressLoadBalancerIngress{ip("10.0.0.1"), ip("10.0.0.2")}, true},
		{"order matters", []networkingv1.IngressLoadBalancerIngress{ip("10.0.0.2"), ip("10.0.0.1")}, []networkingv1.IngressLoadBalancerIngress{ip("10.0.0.1"), ip("10.0.0.2")}, false},
		{"one more", []networkingv1.IngressLoadBalancerIngress{ip("10.0.0.1")}, []networkingv1.IngressLoadBalancerIngress{ip("10.0.0.1"), ip("10.0.0.2")}, false},
		{"hostname", []networkingv1.IngressLoadBalancerIngress{{Hostname: "lb.example.com"}}, []networkingv1.IngressLoadBalancerIngress{{}}, false},
		{"ports are not ours", []networkingv1.IngressLoadBalancerIngress{withPort}, []networkingv1.IngressLoadBalancerIngress{ip("10.0.0.1")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadBalancerEqual(tt.a, tt.b); got != tt.want {
				t.Errorf("loadBalancerEqual = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodeChanged(t *testing.T) {
	base := func() *corev1.Node { return testNode("a", true, "InternalIP=10.0.0.1") }
	tests := []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"heartbeat only", func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = metav1.Now() }, false},
		{"an unrelated label", func(n *corev1.Node) { n.Labels = map[string]string{"zone": "b"} }, false},
		{"became not ready", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"excluded by label", func(n *corev1.Node) { n.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: ""} }, true},
		{"external IP added", func(n *corev1.Node) {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"})
		}, true},
		{"hostname added", func(n *corev1.Node) {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "a"})
		}, false},
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
