package endpointslice

import (
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// applyHints writes the topology hints spec.trafficDistribution asks for
// into the slices being written, and adds to the plan the untouched slices
// whose hints are out of date. "Close" distributions hint every ready
// endpoint to its own zone (and, for PreferSameNode, its node); without
// one, hints are removed. Services that ask for hints only through the
// topology-mode annotation (upstream's proportional "Auto" allocation) get
// none; the issue note lists this.
func applyHints(svc *corev1.Service, p *plan, untouched []*discovery.EndpointSlice) {
	want := hintsFor(svc)
	for _, s := range untouched {
		for i := range s.Endpoints {
			if !sameHints(s.Endpoints[i].Hints, want(&s.Endpoints[i])) {
				p.update = append(p.update, s.DeepCopy())
				break
			}
		}
	}
	for _, list := range [][]*discovery.EndpointSlice{p.create, p.update} {
		for _, s := range list {
			for i := range s.Endpoints {
				s.Endpoints[i].Hints = want(&s.Endpoints[i])
			}
		}
	}
}

// hintsFor returns what hints an endpoint of svc should carry.
func hintsFor(svc *corev1.Service) func(*discovery.Endpoint) *discovery.EndpointHints {
	td := svc.Spec.TrafficDistribution
	mode := svc.Annotations[corev1.DeprecatedAnnotationTopologyAwareHints]
	if _, ok := svc.Annotations[corev1.DeprecatedAnnotationTopologyAwareHints]; !ok {
		mode = svc.Annotations[corev1.AnnotationTopologyMode]
	}
	topologyMode := mode == "Auto" || mode == "auto"
	preferClose := td != nil && !topologyMode && (*td == corev1.ServiceTrafficDistributionPreferClose ||
		*td == corev1.ServiceTrafficDistributionPreferSameZone || *td == corev1.ServiceTrafficDistributionPreferSameNode)
	if !preferClose {
		return func(*discovery.Endpoint) *discovery.EndpointHints { return nil }
	}
	perNode := *td == corev1.ServiceTrafficDistributionPreferSameNode
	return func(ep *discovery.Endpoint) *discovery.EndpointHints {
		if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
			return ep.Hints // not-ready endpoints keep whatever they had
		}
		var h discovery.EndpointHints
		if ep.Zone != nil {
			h.ForZones = []discovery.ForZone{{Name: *ep.Zone}}
		}
		if perNode && ep.NodeName != nil {
			h.ForNodes = []discovery.ForNode{{Name: *ep.NodeName}}
		}
		if h.ForZones == nil && h.ForNodes == nil {
			return nil
		}
		return &h
	}
}

func sameHints(a, b *discovery.EndpointHints) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.ForZones) != len(b.ForZones) || len(a.ForNodes) != len(b.ForNodes) {
		return false
	}
	for i := range a.ForZones {
		if a.ForZones[i] != b.ForZones[i] {
			return false
		}
	}
	for i := range a.ForNodes {
		if a.ForNodes[i] != b.ForNodes[i] {
			return false
		}
	}
	return true
}
