package controllers

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeUsable(t *testing.T) {
	now := metav1.Now()
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	tests := []struct {
		name string
		node corev1.Node
		want bool
	}{
		{"ready", corev1.Node{Status: corev1.NodeStatus{Conditions: ready}}, true},
		{"not ready", corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}}, false},
		{"readiness unknown", corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}}, false},
		{"no ready condition yet", corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}}}}, false},
		{"being deleted", corev1.Node{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.NodeStatus{Conditions: ready}}, false},
		{"excluded from load balancers", corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{corev1.LabelNodeExcludeBalancers: ""}}, Status: corev1.NodeStatus{Conditions: ready}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeUsable(&tt.node); got != tt.want {
				t.Errorf("NodeUsable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodeAddresses(t *testing.T) {
	tests := []struct {
		name  string
		addrs []corev1.NodeAddress
		want  []string
	}{
		{"internal only", []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}, []string{"10.0.0.1"}},
		{
			"external replaces internal",
			[]corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeExternalIP, Address: "203.0.113.1"}},
			[]string{"203.0.113.1"},
		},
		{
			"per family: external IPv4, internal IPv6",
			[]corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "fd00::1"},
				{Type: corev1.NodeInternalIP, Address: "10.0.0.1"},
				{Type: corev1.NodeExternalIP, Address: "203.0.113.1"},
			},
			[]string{"203.0.113.1", "fd00::1"},
		},
		{
			"hostnames, zoned and unparsable addresses are ignored",
			[]corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: "a"},
				{Type: corev1.NodeInternalIP, Address: "bogus"},
				{Type: corev1.NodeInternalIP, Address: "fe80::1%eth0"},
				{Type: corev1.NodeInternalIP, Address: "10.0.0.2"},
			},
			[]string{"10.0.0.2"},
		},
		{"IPv4-mapped IPv6 is IPv4", []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "::ffff:10.0.0.3"}}, []string{"10.0.0.3"}},
		{"none", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{Status: corev1.NodeStatus{Addresses: tt.addrs}}
			got := []string{}
			for _, ip := range NodeAddresses(n) {
				got = append(got, ip.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("NodeAddresses = %v, want %v", got, tt.want)
			}
		})
	}
}
