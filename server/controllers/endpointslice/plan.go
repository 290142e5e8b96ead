package endpointslice

import (
	"cmp"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

// plan is what one sync writes: slices to create, update and delete.
type plan struct {
	create, update, delete []*discovery.EndpointSlice
}

func (p *plan) add(q plan) {
	p.create = append(p.create, q.create...)
	p.update = append(p.update, q.update...)
	p.delete = append(p.delete, q.delete...)
}

// portGroup is the endpoints that offer one set of ports.
type portGroup struct {
	ports     []discovery.EndpointPort
	endpoints map[string]*discovery.Endpoint // by endpointKey
}

// planAddressType plans the slices of one address type of svc, given the
// existing slices of that type and the wanted endpoints grouped by ports.
func planAddressType(svc *corev1.Service, at discovery.AddressType, existing []*discovery.EndpointSlice, want map[string]*portGroup, maxPerSlice int) plan {
	var p plan
	existingByPorts := map[string][]*discovery.EndpointSlice{}
	for _, s := range existing {
		if ownedBy(s, svc) {
			k := portsKey(s.Ports)
			existingByPorts[k] = append(existingByPorts[k], s)
		} else {
			p.delete = append(p.delete, s) // left by an older Service of the same name
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		p.add(planPortGroup(svc, at, existingByPorts[k], want[k], maxPerSlice))
	}
	for _, k := range slices.Sorted(maps.Keys(existingByPorts)) {
		if _, ok := want[k]; !ok {
			p.delete = append(p.delete, existingByPorts[k]...)
		}
	}

	// A Service without endpoints still has one (empty) slice, so readers
	// can tell "no endpoints" from "not synced yet".
	if len(p.delete) == len(existing) && len(p.create) == 0 {
		placeholder := newSlice(svc, at, []discovery.EndpointPort{})
		if len(p.delete) == 1 && isPlaceholder(p.delete[0], placeholder) {
			p.delete = nil // already there
		} else {
			p.create = append(p.create, placeholder)
		}
	}
	return p
}

// isPlaceholder tells whether slice is already the empty slice want.
func isPlaceholder(slice, want *discovery.EndpointSlice) bool {
	return slice.Namespace == want.Namespace && maps.Equal(slice.Labels, want.Labels) &&
		apiequality.Semantic.DeepEqual(slice.OwnerReferences, want.OwnerReferences) && slice.AddressType == want.AddressType &&
		len(slice.Endpoints) == 0 && len(slice.Ports) == 0
}

// planPortGroup changes as few slices as it can to hold want's endpoints:
//  1. endpoints no longer wanted leave their slice, changed ones are
//     updated where they are (a slice left empty is deleted);
//  2. new endpoints fill the slices already being updated, fullest first;
//  3. what remains goes into the one untouched slice it fits best, or
//     into new slices.
//
// want.endpoints is consumed.
func planPortGroup(svc *corev1.Service, at discovery.AddressType, existing []*discovery.EndpointSlice, want *portGroup, maxPerSlice int) plan {
	var p plan
	labels := sliceLabels(svc)
	var updating, untouched []*discovery.EndpointSlice

	for _, s := range existing {
		var kept []discovery.Endpoint
		changed := false
		for i := range s.Endpoints {
			k := endpointKey(&s.Endpoints[i])
			w, ok := want.endpoints[k]
			if !ok {
				continue // gone, or a duplicate of one placed already
			}
			kept = append(kept, *w)
			changed = changed || !sameEndpoint(w, &s.Endpoints[i])
			delete(want.endpoints, k)
		}
		switch {
		case len(kept) == 0 && len(s.Endpoints) > 0:
			p.delete = append(p.delete, s)
		case changed || len(kept) != len(s.Endpoints) || !maps.Equal(s.Labels, labels):
			s = s.DeepCopy()
			s.Endpoints = kept
			s.Labels = labels
			updating = append(updating, s)
		default:
			untouched = append(untouched, s)
		}
	}

	remaining := slices.Sorted(maps.Keys(want.endpoints))
	take := func(s *discovery.EndpointSlice) {
		for len(remaining) > 0 && len(s.Endpoints) < maxPerSlice {
			s.Endpoints = append(s.Endpoints, *want.endpoints[remaining[0]])
			remaining = remaining[1:]
		}
	}

	slices.SortStableFunc(updating, func(a, b *discovery.EndpointSlice) int { return cmp.Compare(len(b.Endpoints), len(a.Endpoints)) })
	for _, s := range updating {
		take(s)
	}

	for len(remaining) > 0 {
		var fill *discovery.EndpointSlice
		if len(remaining) < maxPerSlice {
			if i := bestFit(untouched, len(remaining), maxPerSlice); i >= 0 {
				fill = untouched[i].DeepCopy()
				untouched = slices.Delete(untouched, i, i+1)
				updating = append(updating, fill)
			}
		}
		if fill == nil {
			fill = newSlice(svc, at, want.ports)
			p.create = append(p.create, fill)
		}
		take(fill)
	}
	p.update = append(p.update, updating...)
	return p
}

// bestFit is the index of the slice that n more endpoints bring closest
// to full without overflowing it, or -1.
func bestFit(candidates []*discovery.EndpointSlice, n, maxPerSlice int) int {
	best, bestRoom := -1, maxPerSlice
	for i, s := range candidates {
		room := maxPerSlice - len(s.Endpoints) - n
		if room >= 0 && room < bestRoom {
			best, bestRoom = i, room
		}
	}
	return best
}

// reuseDeleted turns creations into updates of slices about to be deleted,
// keeping the slice count (and watchers' work) down.
func reuseDeleted(svc *corev1.Service, p *plan) {
	for i := 0; i < len(p.delete) && len(p.create) > 0; {
		old := p.delete[i]
		s := p.create[len(p.create)-1]
		// Only this Service's own slices of the same (immutable) address
		// type: another Service's are on their way to the collector.
		if old.AddressType != s.AddressType || !ownedBy(old, svc) {
			i++
			continue
		}
		s.Name, s.GenerateName, s.ResourceVersion = old.Name, old.GenerateName, old.ResourceVersion
		p.create = p.create[:len(p.create)-1]
		p.update = append(p.update, s)
		p.delete = slices.Delete(p.delete, i, i+1)
	}
}
