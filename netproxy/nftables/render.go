package nftables

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"kite/netproxy"
)

// renderer turns a State into one transaction for one IP family.
type renderer struct {
	family family
	// spare, when set, keeps the buffer of the last batch sent for the
	// next one: a full sync writes megabytes, and fresh memory costs a
	// page fault per page.
	spare *attrs
}

func (r renderer) newBatch() *batch {
	b := newBatch(r.family)
	if r.spare != nil {
		b.buf, *r.spare = (*r.spare)[:0], nil
	}
	return b
}

// recycle hands b's buffer to the next batch once b is sent.
func (r renderer) recycle(b *batch) {
	if r.spare != nil {
		*r.spare = b.buf
	}
}

// applied is what the kernel holds once a transaction succeeded; a partial
// sync is computed against it.
type applied struct {
	elements map[string]map[string]element // claimed map → key text → element
	chains   map[netproxy.ServicePortName][]string
	sets     map[netproxy.ServicePortName][]affinity
	// services keeps each service port's elements as rendered, so a
	// partial sync renders only the changed ports again.
	services map[netproxy.ServicePortName]renderedService
	podCIDR  netip.Prefix
	// nextSlot is the first endpoint slot no service port holds or held
	// since the slots were last numbered from 0.
	nextSlot uint32
	// written is how many bytes the last full sync sent.
	written int
	// hairpinRefs counts the service ports that need each hairpin entry,
	// so a port letting one go finds out at once whether another keeps it.
	hairpinRefs map[string]int
	// slotMaps are the endpoint slot maps the table has.
	slotMaps map[string]bool
}

// bytesPerServiceGuess sizes the first full sync's buffer: a ClusterIP
// service port with five endpoints takes about 1 KiB.
const bytesPerServiceGuess = 1 << 10

// slotRenumberAt is how far slots are handed out before a full sync
// numbers them from 0 again; numgen's offset is 32 bits.
const slotRenumberAt = 1 << 31

// renderedService is a service port as last rendered: a full sync
// renders again only the ports whose inputs changed.
type renderedService struct {
	sp    *netproxy.ServicePort
	rules *serviceRules
}

// sameInputs reports whether rs rendered sp as it is now.
func (rs renderedService) sameInputs(sp *netproxy.ServicePort) bool {
	return rs.sp == sp || rs.sp.Equal(sp)
}

// allocator hands out slots from a.nextSlot on, reusing the block of the
// port's previous rendering when its size fits, so an endpoint that moved
// is one element changed.
func (a *applied) allocator(prev renderedService) slotAllocator {
	return func(size uint32) uint32 {
		if prev.rules != nil && prev.rules.slots.size == size {
			return prev.rules.slots.base
		}
		base := a.nextSlot
		a.nextSlot += size
		return base
	}
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
	if changed == nil || prev == nil || prev.podCIDR != podCIDR || prev.nextSlot >= slotRenumberAt {
		return r.renderFull(state, podCIDR, carried, prev)
	}
	return r.renderPartial(state, changed, prev, podCIDR)
}

// renderFull renders the whole table. Service ports whose inputs are
// those cache rendered keep that rendering and their endpoint slots.
func (r renderer) renderFull(state *netproxy.State, podCIDR netip.Prefix, carried map[string]carriedSet, cache *applied) transaction {
	next := &applied{
		elements:    map[string]map[string]element{},
		chains:      map[netproxy.ServicePortName][]string{},
		sets:        map[netproxy.ServicePortName][]affinity{},
		services:    map[netproxy.ServicePortName]renderedService{},
		podCIDR:     podCIDR,
		hairpinRefs: map[string]int{},
	}
	if cache != nil && (cache.podCIDR != podCIDR || cache.nextSlot >= slotRenumberAt) {
		cache = nil
	}
	if cache != nil {
		// Slots of ports rendered again must not overlap any kept ones.
		next.nextSlot = cache.nextSlot
	}
	// Each map's elements in the order of their ports' names, which is
	// the order they are written in.
	ordered := map[string][]*element{}
	// Sized as last time, or for a cluster IP per port: growing them
	// copies and wastes megabytes.
	for _, m := range mapNames {
		if claimed(m) {
			size := len(cache.elementsIn(m))
			if cache == nil && m == serviceIPsMap {
				size = len(state.Services)
			}
			next.elements[m] = make(map[string]element, size)
			ordered[m] = make([]*element, 0, size)
		}
	}
	if cache != nil {
		ordered[hairpinSet] = make([]*element, 0, len(cache.hairpinRefs))
		next.hairpinRefs = make(map[string]int, len(cache.hairpinRefs))
	}
	var written []chain
	var newSets []affinity
	env := newServiceEnv(r.family, podCIDR)
	for _, sp := range state.Sorted() {
		var old renderedService
		if cache != nil {
			old = cache.services[sp.Name]
		}
		rs := old.rules
		if rs == nil || !old.sameInputs(sp) {
			rs = renderService(sp, env, next.allocator(old))
		}
		if rs == nil {
			continue
		}
		next.services[sp.Name] = renderedService{sp: sp, rules: rs}
		for m, elems := range rs.elements {
			switch {
			case m == hairpinSet:
				for i, e := range elems {
					if next.hairpinRefs[e.key.text] == 0 {
						ordered[m] = append(ordered[m], &elems[i])
					}
					next.hairpinRefs[e.key.text]++
				}
			case !claimed(m):
				for i := range elems {
					ordered[m] = append(ordered[m], &elems[i])
				}
			default:
				held := next.elements[m]
				for i, e := range elems {
					// Two service ports claiming one address and port:
					// the first by name wins, as the first iptables rule
					// would.
					if _, taken := held[e.key.text]; !taken {
						held[e.key.text] = e
						ordered[m] = append(ordered[m], &elems[i])
					}
				}
			}
		}
		next.record(sp.Name, rs)
		written = append(written, rs.chains...)
		newSets = append(newSets, rs.sets...)
	}
	out := transaction{batch: r.newBatch(), next: next}
	// As much as last time, which is about what it will take; growing
	// the buffer as it fills copies megabytes over and over.
	expect := len(state.Services) * bytesPerServiceGuess
	if cache != nil {
		expect = cache.written
	}
	out.batch.buf = slices.Grow(out.batch.buf, expect)
	r.writeFull(out.batch, written, newSets, ordered, carried)
	next.written = len(out.batch.buf)
	next.slotMaps = map[string]bool{}
	for _, m := range slotMaps(ordered) {
		next.slotMaps[m] = true
	}
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

// countHairpins adds delta to the counts of rs's hairpin entries.
func (a *applied) countHairpins(rs *serviceRules, delta int) {
	if rs == nil {
		return
	}
	for _, e := range rs.elements[hairpinSet] {
		if n := a.hairpinRefs[e.key.text] + delta; n > 0 {
			a.hairpinRefs[e.key.text] = n
		} else {
			delete(a.hairpinRefs, e.key.text)
		}
	}
}

func compareNames(a, b netproxy.ServicePortName) int {
	return strings.Compare(a.Namespace+"\x00"+a.Name+"\x00"+a.Port+"\x00"+string(a.Protocol),
		b.Namespace+"\x00"+b.Name+"\x00"+b.Port+"\x00"+string(b.Protocol))
}

// writeFull deletes and recreates the table in one go, which also undoes
// anything else done to it. Adding the table first makes the deletion
// succeed when it does not exist yet.
func (r renderer) writeFull(b *batch, written []chain, sets []affinity,
	elements map[string][]*element, carried map[string]carriedSet) {
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
	maps := slices.Concat(mapNames, slotMaps(elements))
	for _, m := range maps {
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
		b.elements(true, s.name, pointers(keep))
	}
	for _, c := range baseChains() {
		rules := r.baseRules(c.name)
		for i := range rules {
			b.addRule(c.name, &rules[i])
		}
	}
	for _, c := range fixed {
		for i := range c.rules {
			b.addRule(c.name, &c.rules[i])
		}
	}
	for _, c := range written {
		for i := range c.rules {
			b.addRule(c.name, &c.rules[i])
		}
	}
	for _, m := range maps {
		b.elements(true, m, elements[m])
	}
}

func (r renderer) affinitySpec(s affinity) setSpec {
	return setSpec{name: s.name, key: r.family.addrType(), timeout: s.timeout}
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
