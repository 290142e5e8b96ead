package servicelb

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

func TestReadyNodes(t *testing.T) {
	yes, no := true, false
	on := func(n string) *string { return &n }
	pod := &corev1.ObjectReference{Kind: "Pod", Name: "p"}
	tests := []struct {
		name     string
		endpoint discovery.Endpoint
		want     map[string]bool
	}{
		{"ready pod", discovery.Endpoint{NodeName: on("a"), TargetRef: pod, Conditions: discovery.EndpointConditions{Ready: &yes}}, map[string]bool{"a": true}},
		{"readiness unknown counts as ready", discovery.Endpoint{NodeName: on("a"), TargetRef: pod}, map[string]bool{"a": true}},
		{"not ready", discovery.Endpoint{NodeName: on("a"), TargetRef: pod, Conditions: discovery.EndpointConditions{Ready: &no}}, map[string]bool{}},
		{"no node", discovery.Endpoint{TargetRef: pod, Conditions: discovery.EndpointConditions{Ready: &yes}}, map[string]bool{}},
		{"not a pod", discovery.Endpoint{NodeName: on("a"), Conditions: discovery.EndpointConditions{Ready: &yes}}, map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readyNodes(&discovery.EndpointSlice{Endpoints: []discovery.Endpoint{tt.endpoint}})
			if !maps.Equal(got, tt.want) {
				t.Errorf("readyNodes = %v, want %v", got, tt.want)
			}
		})
	}
}
