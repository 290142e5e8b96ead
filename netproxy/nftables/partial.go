package nftables

import (
	"net/netip"
	"slices"
	"strings"

	"kite/netproxy"
)

// claimed reports whether several service ports can ask map m for one
// key, so the first by name decides the element. Slot numbers belong to
// one port; a hairpin entry is the same whoever needs it.
func claimed(m string) bool { return m != hairpinSet && !strings.HasPrefix(m, slotMapPrefix) }

// elementChange is one map or set's element updates of a partial sync.
type elementChange struct{ remove, add []element }

func (c *elementChange) empty() bool { return len(c.remove) == 0 && len(c.add) == 0 }

// slotChanges are the element updates of the endpoint slot maps when a
// port's rendering old becomes rs. Slots are never shared, so the two
// renderings alone say what changed.
func slotChanges(old, rs *serviceRules, into map[string]*elementChange) {
	was := map[string]element{}
	if old != nil {
		for m, elems := range old.elements {
			if !claimed(m) && m != hairpinSet {
				for _, e := range elems {
					was[m+" "+e.key.text] = e
				}
			}
		}
	}
	change := func(m string) *elementChange {
		if into[m] == nil {
			into[m] = &elementChange{}
		}
		return into[m]
	}
	if rs != nil {
		for m, elems := range rs.elements {
			if claimed(m) || m == hairpinSet {
				continue
			}
			for _, e := range elems {
				prior, ok := was[m+" "+e.key.text]
				delete(was, m+" "+e.key.text)
				if ok && prior.sameTarget(e) {
					continue
				}
				if ok {
					change(m).remove = append(change(m).remove, prior)
				}
				change(m).add = append(change(m).add, e)
			}
		}
	}
	for k, e := range was {
		m, _, _ := strings.Cut(k, " ")
		change(m).remove = append(change(m).remove, e)
	}
}

// hairpinChanges updates the hairpin counts for the ports whose renderings
// olds became news, and returns the entries that appeared or went.
func (a *applied) hairpinChanges(olds, news []*serviceRules) *elementChange {
	present := map[string]element{} // touched entries there before
	touched := map[string]element{}
	for _, rs := range slices.Concat(olds, news) {
		if rs == nil {
			continue
		}
		for _, e := range rs.elements[hairpinSet] {
			if _, seen := touched[e.key.text]; seen {
				continue
			}
			touched[e.key.text] = e
			if a.hairpinRefs[e.key.text] > 0 {
				present[e.key.text] = e
			}
		}
	}
	for _, rs := range olds {
		a.countHairpins(rs, -1)
	}
	for _, rs := range news {
		a.countHairpins(rs, 1)
	}
	ch := &elementChange{}
	for k, e := range touched {
		_, was := present[k]
		switch now := a.hairpinRefs[k] > 0; {
		case was && !now:
			ch.remove = append(ch.remove, e)
		case !was && now:
			ch.add = append(ch.add, e)
		}
	}
	return ch
}

func (r renderer) renderPartial(state *netproxy.State, changed map[netproxy.ServicePortName]bool,
	prev *applied, podCIDR netip.Prefix) transaction {
	names := sortedNames(changed)
	oldChains := map[netproxy.ServicePortName][]string{}
	oldSets := map[netproxy.ServicePortName][]affinity{}
	before := map[string]map[string]*element{} // touched keys → element before the change
	touch := func(m string, key string) {
		if before[m] == nil {
			before[m] = map[string]*element{}
		}
		if _, seen := before[m][key]; seen {
			return
		}
		var old *element
		if e, ok := prev.elements[m][key]; ok {
			old = &e
		}
		before[m][key] = old
	}

	var written, unchanged []chain
	var newSets []affinity
	var olds, news []*serviceRules
	changes := map[string]*elementChange{}
	env := newServiceEnv(r.family, podCIDR)
	for _, name := range names {
		oldChains[name], oldSets[name] = prev.chains[name], prev.sets[name]
		old := prev.services[name]
		var oldRules map[string][]rule
		if old.rules != nil {
			oldRules = map[string][]rule{}
			for m, elems := range old.rules.elements {
				if !claimed(m) {
					continue
				}
				for _, e := range elems {
					touch(m, e.key.text)
				}
			}
			for _, c := range old.rules.chains {
				oldRules[c.name] = c.rules
			}
		}
		var rs *serviceRules
		if sp, ok := state.Services[name]; ok {
			rs = renderService(sp, env, prev.allocator(old))
		}
		olds, news = append(olds, old.rules), append(news, rs)
		slotChanges(old.rules, rs, changes)
		prev.record(name, rs)
		if rs == nil {
			delete(prev.services, name)
			continue
		}
		prev.services[name] = renderedService{sp: state.Services[name], rules: rs}
		for m, elems := range rs.elements {
			if !claimed(m) {
				continue
			}
			for _, e := range elems {
				touch(m, e.key.text)
			}
		}
		for _, c := range rs.chains {
			// A chain whose rules stay is left alone: rewriting any rule
			// makes the kernel check every jump of the table again.
			if was, ok := oldRules[c.name]; ok && sameRules(was, c.rules) {
				unchanged = append(unchanged, c)
			} else {
				written = append(written, c)
			}
		}
		newSets = append(newSets, rs.sets...)
	}

	changes[hairpinSet] = prev.hairpinChanges(olds, news)
	var newMaps []string
	for _, m := range slotMaps(changes) {
		if !prev.slotMaps[m] && len(changes[m].add) > 0 {
			// A slot map no port used so far.
			prev.slotMaps[m] = true
			newMaps = append(newMaps, m)
		}
	}
	for m, ch := range changes {
		sortElements(ch.remove)
		sortElements(ch.add)
		if ch.empty() {
			delete(changes, m)
		}
	}
	for _, m := range elementMaps(before) {
		ch := &elementChange{}
		for key, old := range before[m] {
			cur, ok := prev.winner(m, key, old, changed)
			if ok {
				prev.elements[m][key] = cur
			} else {
				delete(prev.elements[m], key)
			}
			switch {
			case old != nil && (!ok || !old.sameTarget(cur)):
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
	out := transaction{batch: r.newBatch(), next: prev}
	out.staleChains, out.staleSets = r.writePartial(out.batch, names, oldChains, oldSets, changes, newMaps, written, unchanged, newSets)
	return out
}

// elementMaps lists the maps of m's keys in the order they are written:
// the fixed ones, then the endpoint slot maps by name.
func elementMaps[V any](m map[string]V) []string {
	var fixed []string
	for _, name := range mapNames {
		if _, ok := m[name]; ok {
			fixed = append(fixed, name)
		}
	}
	return append(fixed, slotMaps(m)...)
}

// slotMaps lists the endpoint slot maps among m's keys, by name.
func slotMaps[V any](m map[string]V) []string {
	var slots []string
	for name := range m {
		if strings.HasPrefix(name, slotMapPrefix) {
			slots = append(slots, name)
		}
	}
	slices.Sort(slots)
	return slots
}

func sameRules(a, b []rule) bool {
	return slices.EqualFunc(a, b, func(x, y rule) bool { return x.text == y.text })
}

// winner is the element the service port first by name claims for key in
// map m after the changed ports were rendered again, if any claims it.
// old is the element before the change.
func (a *applied) winner(m, key string, old *element, changed map[netproxy.ServicePortName]bool) (element, bool) {
	var best element
	found := false
	consider := func(e element) {
		if !found || compareNames(*e.owner, *best.owner) < 0 {
			best, found = e, true
		}
	}
	if old != nil && !changed[*old.owner] {
		consider(*old) // its claim stands
	}
	ownerStillClaims := false
	for name := range changed {
		for _, e := range a.services[name].elementsOf(m) {
			if e.key.text == key {
				consider(e)
				ownerStillClaims = ownerStillClaims || (old != nil && name == *old.owner)
			}
		}
	}
	if old != nil && changed[*old.owner] && !ownerStillClaims {
		// The key was released: a port that lost it to the old owner may
		// hold it now. Rare enough to look through every port.
		for name, rs := range a.services {
			if changed[name] {
				continue
			}
			for _, e := range rs.elementsOf(m) {
				if e.key.text == key {
					consider(e)
				}
			}
		}
	}
	return best, found
}

// elementsIn is what map m holds; nothing when a is nil.
func (a *applied) elementsIn(m string) map[string]element {
	if a == nil {
		return nil
	}
	return a.elements[m]
}

func (rs renderedService) elementsOf(m string) []element {
	if rs.rules == nil {
		return nil
	}
	return rs.rules.elements[m]
}

// writePartial touches only what changed. The order matters: chains are
// emptied before the sets and chains they reference go, and map elements
// pointing at a chain are removed before the chain is deleted.
func (r renderer) writePartial(b *batch, names []netproxy.ServicePortName,
	oldChains map[netproxy.ServicePortName][]string, oldSetsByName map[netproxy.ServicePortName][]affinity,
	changes map[string]*elementChange, newMaps []string, written, unchanged []chain, newSets []affinity) (staleChains, staleSets []string) {
	wantedChains := map[string]bool{}
	for _, c := range slices.Concat(written, unchanged) {
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
	maps := elementMaps(changes)
	for _, m := range maps {
		b.elements(false, m, pointers(changes[m].remove))
	}
	for _, s := range staleSets {
		b.deleteSet(s)
	}
	for _, m := range newMaps {
		b.addSet(r.family.mapSpec(m))
	}
	for _, s := range newSets {
		if t, existed := oldSets[s.name]; !existed || t != s.timeout {
			b.addSet(r.affinitySpec(s))
		}
	}
	for _, m := range maps {
		b.elements(true, m, pointers(changes[m].add))
	}
	for _, c := range written {
		for i := range c.rules {
			b.addRule(c.name, &c.rules[i])
		}
	}
	for _, c := range staleChains {
		b.deleteChain(c)
	}
	return staleChains, staleSets
}
