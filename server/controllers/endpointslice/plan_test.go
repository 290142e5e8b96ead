package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var planSvc = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "svc-uid"},
	Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.9"}}

func endpoint(i int, ready bool) *discovery.Endpoint {
	return &discovery.Endpoint{
		Addresses:  []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250)},
		Conditions: discovery.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: fmt.Sprintf("p%d", i), UID: types.UID(fmt.Sprintf("u%d", i))},
	}
}

// group wants endpoints [from, to), all ready but those listed.
func group(from, to int, notReady ...int) *portGroup {
	g := &portGroup{ports: []discovery.EndpointPort{}, endpoints: map[string]*discovery.Endpoint{}}
	for i := from; i < to; i++ {
		ready := true
		for _, n := range notReady {
			ready = ready && n != i
		}
		ep := endpoint(i, ready)
		g.endpoints[endpointKey(ep)] = ep
	}
	return g
}

// existingSlice holds ready endpoints [from, to).
func existingSlice(name string, from, to int) *discovery.EndpointSlice {
	s := newSlice(planSvc, discovery.AddressTypeIPv4, []discovery.EndpointPort{})
	s.Name = name
	for i := from; i < to; i++ {
		s.Endpoints = append(s.Endpoints, *endpoint(i, true))
	}
	return s
}

func names(slices []*discovery.EndpointSlice) []string {
	var out []string
	for _, s := range slices {
		out = append(out, fmt.Sprintf("%s:%d", s.Name, len(s.Endpoints)))
	}
	return out
}

func TestPlanPortGroup(t *testing.T) {
	full := func() []*discovery.EndpointSlice {
		return []*discovery.EndpointSlice{existingSlice("a", 0, 100), existingSlice("b", 100, 200), existingSlice("c", 200, 205)}
	}
	tests := []struct {
		name                       string
		existing                   []*discovery.EndpointSlice
		want                       *portGroup
		create, update, deleteSets string
	}{
		{"new service splits at 100", nil, group(0, 205), "[:100 :100 :5]", "[]", "[]"},
		{"nothing changed", full(), group(0, 205), "[]", "[]", "[]"},
		{"one endpoint changes in place", full(), group(0, 205, 150), "[]", "[b:100]", "[]"},
		{"one endpoint goes", full(), group(1, 205), "[]", "[a:99]", "[]"},
		{"new endpoints fill the slice being updated", full(), group(1, 206), "[]", "[a:100]", "[]"},
		{"new endpoints go to the best-fitting untouched slice", full(), group(0, 210), "[]", "[c:10]", "[]"},
		{"a slice left empty is deleted", full(), group(0, 200), "[]", "[]", "[c:5]"},
		{"duplicates are dropped", append(full(), existingSlice("d", 0, 3)), group(0, 205), "[]", "[]", "[d:3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planPortGroup(planSvc, discovery.AddressTypeIPv4, tt.existing, tt.want, 100)
			got := fmt.Sprintf("%v %v %v", names(p.create), names(p.update), names(p.delete))
			want := tt.create + " " + tt.update + " " + tt.deleteSets
			if got != want {
				t.Fatalf("create/update/delete = %s, want %s", got, want)
			}
		})
	}
}

func TestPlanAddressTypePlaceholder(t *testing.T) {
	empty := map[string]*portGroup{}
	p := planAddressType(planSvc, discovery.AddressTypeIPv4, nil, empty, 100)
	if len(p.create) != 1 || len(p.create[0].Endpoints) != 0 || len(p.update)+len(p.delete) != 0 {
		t.Fatalf("no endpoints: got %+v, want one placeholder created", p)
	}
	placeholder := p.create[0]
	placeholder.Name = "web-x"
	if p := planAddressType(planSvc, discovery.AddressTypeIPv4, []*discovery.EndpointSlice{placeholder}, empty, 100); len(p.create)+len(p.update)+len(p.delete) != 0 {
		t.Fatalf("placeholder present: got %+v, want nothing to do", p)
	}

	// The last endpoint going: its slice is reused as the placeholder.
	last := existingSlice("web-y", 0, 1)
	p = planAddressType(planSvc, discovery.AddressTypeIPv4, []*discovery.EndpointSlice{last}, empty, 100)
	reuseDeleted(planSvc, &p)
	if len(p.create) != 0 || len(p.delete) != 0 || len(p.update) != 1 || p.update[0].Name != "web-y" || len(p.update[0].Endpoints) != 0 {
		t.Fatalf("last endpoint gone: got %s %s %s, want web-y updated to empty", names(p.create), names(p.update), names(p.delete))
	}

	// A slice of an older Service of the same name is deleted, not reused.
	foreign := existingSlice("web-z", 0, 1)
	foreign.OwnerReferences[0].UID = "other"
	p = planAddressType(planSvc, discovery.AddressTypeIPv4, []*discovery.EndpointSlice{foreign}, empty, 100)
	reuseDeleted(planSvc, &p)
	if len(p.create) != 1 || len(p.delete) != 1 || len(p.update) != 0 {
		t.Fatalf("foreign slice: got %s %s %s, want a placeholder created and web-z deleted", names(p.create), names(p.update), names(p.delete))
	}
}

func TestApplyHints(t *testing.T) {
	withZone := func(ready bool) *discovery.EndpointSlice {
		s := existingSlice("s", 0, 1)
		s.Endpoints[0].Conditions.Ready = ptr.To(ready)
		s.Endpoints[0].Zone = ptr.To("z1")
		s.Endpoints[0].NodeName = ptr.To("n1")
		return s
	}
	svc := func(td string) *corev1.Service {
		s := planSvc.DeepCopy()
		if td != "" {
			s.Spec.TrafficDistribution = &td
		}
		return s
	}
	tests := []struct {
		name  string
		svc   *corev1.Service
		slice *discovery.EndpointSlice
		want  *discovery.EndpointHints
	}{
		{"PreferClose hints the zone", svc(corev1.ServiceTrafficDistributionPreferClose), withZone(true), &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: "z1"}}}},
		{"PreferSameNode hints the node too", svc(corev1.ServiceTrafficDistributionPreferSameNode), withZone(true),
			&discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: "z1"}}, ForNodes: []discovery.ForNode{{Name: "n1"}}}},
		{"not-ready endpoints get none", svc(corev1.ServiceTrafficDistributionPreferClose), withZone(false), nil},
		{"no distribution, no hints", svc(""), withZone(true), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p plan
			applyHints(tt.svc, &p, []*discovery.EndpointSlice{tt.slice})
			var got *discovery.EndpointHints
			if len(p.update) == 1 {
				got = p.update[0].Endpoints[0].Hints
			}
			if !sameHints(got, tt.want) {
				t.Fatalf("hints %+v, want %+v", got, tt.want)
			}
			// Applying the hints again finds nothing to update.
			if len(p.update) == 1 {
				var again plan
				applyHints(tt.svc, &again, p.update)
				if len(again.update) != 0 {
					t.Fatalf("hints not stable")
				}
			}
		})
	}
}
