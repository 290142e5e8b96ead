package nftables

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"kite/netproxy"
)

// renderer turns a State into one transaction for one IP family.
type renderer struct{ family family }

// applied is what the kernel holds once a transaction succeeded; a partial
// sync is computed against it.
type applied struct {
	elements map[string]map[string]element // map or set name → key text → element
	chains   map[netproxy.ServicePortName][]string
	sets     map[netproxy.ServicePortName][]affinity
	// services keeps each service port's elements as rendered, so a
	// partial sync renders only the changed ports again.
	services map[netproxy.ServicePortName]renderedService
	podCIDR  netip.Prefix
}

type renderedService struct {
	sp       *netproxy.ServicePort
	elements map[string][]element
}

// transaction is one sync's batch and the kernel state after it.
type transaction struct {
	batch       *batch
	next        *applied
	staleChains []string
	staleSets   []string
}

// carriedSet is an affinity set read from the kernel before a full sync,
// whose entries the rebuilt table gets back.
type carriedSet struct {
	timeout int32 // seconds
	entries []carriedEntry
}

type carriedEntry struct {
	addr    netip.Addr
	expires time.Duration // time left
}

// render writes the whole table when changed is nil, nothing was applied
// yet or the pod network changed, and otherwise only the changed service
// ports' chains, sets and elements. A partial render takes prev over and
// updates it into the next state, so its cost follows the size of the
// change, not of the table. carried restores affinity entries into a
// rebuilt table.
func (r renderer) render(state *netproxy.State, changed map[netproxy.ServicePortName]bool,
	prev *applied, carried map[string]carriedSet) transaction {
	var podCIDR netip.Prefix
	for _, p := range state.ClusterCIDRs {
		if r.family.has(p.Addr()) {
			podCIDR = p.Masked()
			break
		}
	}
	if changed == nil || prev == nil || prev.podCIDR != podCIDR {
		return r.renderFull(state, podCIDR, carried)
	}
	return r.renderPartial(state, changed, prev, podCIDR)
}

func (r renderer) renderFull(state *netproxy.State, podCIDR netip.Prefix, carried map[string]carriedSet) transaction {
	next := &applied{
		elements: map[string]map[string]element{},
		chains:   map[netproxy.ServicePortName][]string{},
		sets:     map[netproxy.ServicePortName][]affinity{},
		services: map[netproxy.ServicePortName]renderedService{},
		podCIDR:  podCIDR,
	}
	for _, m := range mapNames {
		next.elements[m] = map[string]element{}
	}
	var written []chain
	var newSets []affinity
	for _, sp := range state.Sorted() {
		rs := renderService(sp, r.family, podCIDR, true)
		if rs == nil {
			continue
		}
		next.services[sp.Name] = renderedService{sp: sp, elements: rs.elements}
		for _, m := range mapNames {
			for _, e := range rs.elements[m] {
				// Two service ports claiming one address and port: the
				// first by name wins, as the first iptables rule would.
				if _, taken := next.elements[m][e.key.text]; !taken {
					next.elements[m][e.key.text] = e
				}
			}
		}
		next.record(sp.Name, rs)
		written = append(written, rs.chains...)
		newSets = append(newSets, rs.sets...)
	}
	out := transaction{batch: newBatch(r.family), next: next}
	r.writeFull(out.batch, written, newSets, next.elements, carried)
	return out
}

// record notes the chains and sets a service port now has.
func (a *applied) record(name netproxy.ServicePortName, rs *serviceRules) {
	delete(a.chains, name)
	delete(a.sets, name)
	if rs == nil {
		return
	}
	for _, c := range rs.chains {
		a.chains[name] = append(a.chains[name], c.name)
	}
	if rs.sets != nil {
		a.sets[name] = rs.sets
	}
}

// elementChange is one map or set's element updates of a partial sync.
type elementChange struct{ remove, add []element }

func (r renderer) renderPartial(state *netproxy.State, changed map[netproxy.ServicePortName]bool,
	prev *applied, podCIDR netip.Prefix) transaction {
	names := sortedNames(changed)
	oldChains := map[netproxy.ServicePortName][]string{}
	oldSets := map[netproxy.ServicePortName][]affinity{}
	before := map[string]map[string]*element{} // touched keys → element before the change
	for _, m := range mapNames {
		before[m] = map[string]*element{}
	}
	touch := func(m string, key string) {
		if _, seen := before[m][key]; seen {
			return
		}
		var old *element
		if e, ok := prev.elements[m][key]; ok {
			old = &e
		}
		before[m][key] = old
	}

	var written []chain
	var newSets []affinity
	for _, name := range names {
		oldChains[name], oldSets[name] = prev.chains[name], prev.sets[name]
		for m, elems := range prev.services[name].elements {
			for _, e := range elems {
				touch(m, e.key.text)
			}
		}
		var rs *serviceRules
		if sp, ok := state.Services[name]; ok {
			rs = renderService(sp, r.family, podCIDR, true)
		}
		prev.record(name, rs)
		if rs == nil {
			delete(prev.services, name)
			continue
		}
		prev.services[name] = renderedService{sp: state.Services[name], elements: rs.elements}
		for m, elems := range rs.elements {
			for _, e := range elems {
				touch(m, e.key.text)
			}
		}
		written = append(written, rs.chains...)
		newSets = append(newSets, rs.sets...)
	}

	changes := map[string]*elementChange{}
	for _, m := range mapNames {
		ch := &elementChange{}
		for key, old := range before[m] {
			cur, ok := prev.winner(m, key, old, changed)
			if ok {
				prev.elements[m][key] = cur
			} else {
				delete(prev.elements[m], key)
			}
			switch {
			case old != nil && (!ok || old.verdict != cur.verdict):
				ch.remove = append(ch.remove, *old)
				if ok {
					ch.add = append(ch.add, cur)
				}
			case old == nil && ok:
				ch.add = append(ch.add, cur)
			}
		}
		sortElements(ch.remove)
		sortElements(ch.add)
		changes[m] = ch
	}
	out := transaction{batch: newBatch(r.family), next: prev}
	out.staleChains, out.staleSets = r.writePartial(out.batch, names, oldChains, oldSets, changes, written, newSets)
	return out
}

// winner is the element the service port first by name claims for key in
// map m after the changed ports were rendered again, if any claims it.
// old is the element before the change.
func (a *applied) winner(m, key string, old *element, changed map[netproxy.ServicePortName]bool) (element, bool) {
	var best element
	found := false
	consider := func(e element) {
		if !found || compareNames(e.owner, best.owner) < 0 {
			best, found = e, true
		}
	}
	if old != nil && !changed[old.owner] {
		consider(*old) // its claim stands
	}
	ownerStillClaims := false
	for name := range changed {
		for _, e := range a.services[name].elements[m] {
			if e.key.text == key {
				consider(e)
				ownerStillClaims = ownerStillClaims || (old != nil && name == old.owner)
			}
		}
	}
	if old != nil && changed[old.owner] && !ownerStillClaims {
		// The key was released: a port that lost it to the old owner may
		// hold it now. Rare enough to look through every port.
		for name, rs := range a.services {
			if changed[name] {
				continue
			}
			for _, e := range rs.elements[m] {
				if e.key.text == key {
					consider(e)
				}
			}
		}
	}
	return best, found
}

func compareNames(a, b netproxy.ServicePortName) int {
	return strings.Compare(a.Namespace+"\x00"+a.Name+"\x00"+a.Port+"\x00"+string(a.Protocol),
		b.Namespace+"\x00"+b.Name+"\x00"+b.Port+"\x00"+string(b.Protocol))
}

// writeFull deletes and recreates the table in one go, which also undoes
// anything else done to it. Adding the table first makes the deletion
// succeed when it does not exist yet.
func (r renderer) writeFull(b *batch, written []chain, sets []affinity,
	elements map[string]map[string]element, carried map[string]carriedSet) {
	b.addTable()
	b.deleteTable()
	b.addTable()
	for _, c := range baseChains() {
		b.addBaseChain(c)
	}
	fixed := r.fixedChains()
	for _, c := range fixed {
		b.addChain(c.name)
	}
	for _, m := range mapNames {
		b.addSet(r.family.mapSpec(m))
	}
	for _, c := range written {
		b.addChain(c.name)
	}
	for _, s := range sets {
		b.addSet(r.affinitySpec(s))
		c, ok := carried[s.name]
		if !ok || c.timeout != s.timeout {
			continue
		}
		var keep []element
		limit := time.Duration(s.timeout) * time.Second
		for _, e := range c.entries {
			if e.expires > 0 && e.expires <= limit {
				keep = append(keep, element{key: addrKey(e.addr), timeout: limit, expires: e.expires.Truncate(time.Second)})
			}
		}
		b.elements(true, s.name, keep)
	}
	for _, c := range baseChains() {
		for _, rule := range r.baseRules(c.name) {
			b.addRule(c.name, rule)
		}
	}
	for _, c := range fixed {
		for _, rule := range c.rules {
			b.addRule(c.name, rule)
		}
	}
	for _, c := range written {
		for _, rule := range c.rules {
			b.addRule(c.name, rule)
		}
	}
	for _, m := range mapNames {
		b.elements(true, m, sortedElements(elements[m]))
	}
}

// writePartial touches only what changed. The order matters: chains are
// emptied before the sets and chains they reference go, and map elements
// pointing at a chain are removed before the chain is deleted.
func (r renderer) writePartial(b *batch, names []netproxy.ServicePortName,
	oldChains map[netproxy.ServicePortName][]string, oldSetsByName map[netproxy.ServicePortName][]affinity,
	changes map[string]*elementChange, written []chain, newSets []affinity) (staleChains, staleSets []string) {
	wantedChains := map[string]bool{}
	for _, c := range written {
		wantedChains[c.name] = true
	}
	wantedSets := map[string]int32{}
	for _, s := range newSets {
		wantedSets[s.name] = s.timeout
	}
	oldSets := map[string]int32{}
	for _, name := range names {
		for _, c := range oldChains[name] {
			if !wantedChains[c] {
				staleChains = append(staleChains, c)
			}
		}
		for _, s := range oldSetsByName[name] {
			oldSets[s.name] = s.timeout
			// A new timeout needs a new set: it cannot change in place.
			if t, ok := wantedSets[s.name]; !ok || t != s.timeout {
				staleSets = append(staleSets, s.name)
			}
		}
	}

	for _, c := range written {
		b.addChain(c.name)
		b.flushChain(c.name)
	}
	for _, c := range staleChains {
		b.flushChain(c)
	}
	for _, m := range mapNames {
		b.elements(false, m, changes[m].remove)
	}
	for _, s := range staleSets {
		b.deleteSet(s)
	}
	for _, s := range newSets {
		if t, existed := oldSets[s.name]; !existed || t != s.timeout {
			b.addSet(r.affinitySpec(s))
		}
	}
	for _, m := range mapNames {
		b.elements(true, m, changes[m].add)
	}
	for _, c := range written {
		for _, rule := range c.rules {
			b.addRule(c.name, rule)
		}
	}
	for _, c := range staleChains {
		b.deleteChain(c)
	}
	return staleChains, staleSets
}

func (r renderer) affinitySpec(s affinity) setSpec {
	return setSpec{name: s.name, key: r.family.addrType(), timeout: s.timeout}
}

func sortedElements(m map[string]element) []element {
	out := make([]element, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sortElements(out)
	return out
}

func sortElements(s []element) {
	slices.SortFunc(s, func(a, b element) int { return strings.Compare(a.key.text, b.key.text) })
}

func sortedNames(m map[netproxy.ServicePortName]bool) []netproxy.ServicePortName {
	out := make([]netproxy.ServicePortName, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b netproxy.ServicePortName) int {
		return strings.Compare(a.String()+"/"+string(a.Protocol), b.String()+"/"+string(b.Protocol))
	})
	return out
}
