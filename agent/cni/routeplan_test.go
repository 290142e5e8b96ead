package cni

import (
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testNode(name string, podCIDRs []string, addrs ...corev1.NodeAddress) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Spec.PodCIDRs = podCIDRs
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR = podCIDRs[0]
	}
	n.Status.Addresses = addrs
	return n
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestPlanRoutes(t *testing.T) {
	connected := []connectedNet{
		{linkIndex: 2, addr: net.ParseIP("192.168.77.1"), subnet: mustCIDR("192.168.77.0/24")},
		{linkIndex: 3, addr: net.ParseIP("fd77::1"), subnet: mustCIDR("fd77::/64")},
	}
	tests := []struct {
		name        string
		nodes       []*corev1.Node
		want        []string // "node dst via gw dev N"
		wantSkipped map[string]string
	}{
		{
			name: "self gets no route, neighbour does",
			nodes: []*corev1.Node{
				testNode("self", []string{"10.42.0.0/24"}, internal("192.168.77.1")),
				testNode("b", []string{"10.42.1.0/24"}, internal("192.168.77.2"), corev1.NodeAddress{Type: corev1.NodeHostName, Address: "b"}),
			},
			want: []string{"b 10.42.1.0/24 via 192.168.77.2 dev 2"},
		},
		{
			name: "only podCIDR set",
			nodes: []*corev1.Node{
				{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{internal("192.168.77.2")}}},
			},
			want: []string{"b 10.42.1.0/24 via 192.168.77.2 dev 2"},
		},
		{
			name: "dual stack picks the matching family",
			nodes: []*corev1.Node{
				testNode("b", []string{"10.42.1.0/24", "fd42:0:0:1::/64"}, internal("fd77::2"), internal("192.168.77.2")),
			},
			want: []string{"b 10.42.1.0/24 via 192.168.77.2 dev 2", "b fd42:0:0:1::/64 via fd77::2 dev 3"},
		},
		{
			name: "not on a connected network",
			nodes: []*corev1.Node{
				testNode("far", []string{"10.42.2.0/24"}, internal("172.31.5.5")),
			},
			wantSkipped: map[string]string{"far": "needs an overlay"},
		},
		{
			name: "no pod CIDR yet is silently ignored",
			nodes: []*corev1.Node{
				testNode("new", nil, internal("192.168.77.9")),
			},
		},
		{
			name: "no InternalIP",
			nodes: []*corev1.Node{
				testNode("noip", []string{"10.42.2.0/24"}, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "192.168.77.9"}),
			},
			wantSkipped: map[string]string{"noip": "no InternalIP"},
		},
		{
			name: "address of this node",
			nodes: []*corev1.Node{
				testNode("stale", []string{"10.42.2.0/24"}, internal("192.168.77.1")),
			},
			wantSkipped: map[string]string{"stale": "an address of this node"},
		},
		{
			name: "pod CIDR claimed twice: first name wins",
			nodes: []*corev1.Node{
				testNode("z", []string{"10.42.5.0/24"}, internal("192.168.77.26")),
				testNode("a", []string{"10.42.5.0/24"}, internal("192.168.77.2")),
			},
			want:        []string{"a 10.42.5.0/24 via 192.168.77.2 dev 2"},
			wantSkipped: map[string]string{"z": "also claimed by node a"},
		},
		{
			name: "unparsable pod CIDR",
			nodes: []*corev1.Node{
				testNode("bad", []string{"10.42.5.0"}, internal("192.168.77.2")),
			},
			wantSkipped: map[string]string{"bad": "does not parse"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes, skipped := planRoutes("self", tt.nodes, connected)
			var got []string
			for _, r := range routes {
				got = append(got, fmt.Sprintf("%s %s via %s dev %d", r.node, r.dst, r.gateway, r.linkIndex))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("routes = %q, want %q", got, tt.want)
			}
			if len(skipped) != len(tt.wantSkipped) {
				t.Errorf("skipped = %v, want %v", skipped, tt.wantSkipped)
			}
			for node, fragment := range tt.wantSkipped {
				if !strings.Contains(skipped[node], fragment) {
					t.Errorf("skipped[%s] = %q, want it to mention %q", node, skipped[node], fragment)
				}
			}
		})
	}
}

func TestSlimNode(t *testing.T) {
	full := testNode("b", []string{"10.42.1.0/24"}, internal("192.168.77.2"), corev1.NodeAddress{Type: corev1.NodeHostName, Address: "b"})
	full.Labels = map[string]string{"x": "y"}
	full.ResourceVersion = "7"
	full.Status.Images = []corev1.ContainerImage{{Names: []string{"busybox"}}}
	full.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	obj, err := slimNode(full)
	if err != nil {
		t.Fatal(err)
	}
	slim := obj.(*corev1.Node)
	want := testNode("b", []string{"10.42.1.0/24"}, internal("192.168.77.2"))
	want.ResourceVersion = "7"
	if !reflect.DeepEqual(slim, want) {
		t.Errorf("slim node = %+v, want %+v", slim, want)
	}
	tombstone := "not a node"
	if got, _ := slimNode(tombstone); got != tombstone {
		t.Errorf("non-node object changed: %v", got)
	}

	if routingChanged(want, want.DeepCopy()) {
		t.Error("identical nodes reported as changed")
	}
	moved := want.DeepCopy()
	moved.Status.Addresses[0].Address = "192.168.77.3"
	recidred := want.DeepCopy()
	recidred.Spec.PodCIDRs = []string{"10.42.9.0/24"}
	for _, changed := range []*corev1.Node{moved, recidred} {
		if !routingChanged(want, changed) {
			t.Errorf("change to %+v not noticed", changed)
		}
	}
}
