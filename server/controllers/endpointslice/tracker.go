package endpointslice

import (
	"sync"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletionExpected marks a slice this controller deleted.
const deletionExpected = -1

// tracker remembers, per Service, the generation of every slice this
// controller last wrote (or that it deleted it). It tells a sync whether
// the informer cache has caught up with those writes, and the event
// handlers whether a slice event is an echo of this controller's own
// write or somebody else's change that must be undone.
type tracker struct {
	mu        sync.Mutex
	byService map[types.NamespacedName]map[types.UID]int64
}

func newTracker() *tracker {
	return &tracker{byService: map[types.NamespacedName]map[types.UID]int64{}}
}

func serviceOf(s *discovery.EndpointSlice) types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.Labels[discovery.LabelServiceName]}
}

func (t *tracker) slices(s *discovery.EndpointSlice, create bool) map[types.UID]int64 {
	m := t.byService[serviceOf(s)]
	if m == nil && create {
		m = map[types.UID]int64{}
		t.byService[serviceOf(s)] = m
	}
	return m
}

// wrote records a slice as returned by a create or update.
func (t *tracker) wrote(s *discovery.EndpointSlice) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.slices(s, true)[s.UID] = s.Generation
}

// deleted records that this controller deleted s.
func (t *tracker) deleted(s *discovery.EndpointSlice) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.slices(s, true)[s.UID] = deletionExpected
}

// changedByOthers tells whether an observed slice is newer than what this
// controller wrote (or unknown to it).
func (t *tracker) changedByOthers(s *discovery.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.slices(s, false)[s.UID]
	return !ok || s.Generation > g
}

// tracked tells whether this controller has written or deleted s.
func (t *tracker) tracked(s *discovery.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.slices(s, false)[s.UID]
	return ok
}

// gone handles a slice's deletion and tells whether this controller
// expected it (false: somebody else deleted a slice it maintains).
func (t *tracker) gone(s *discovery.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.slices(s, false)
	g, ok := m[s.UID]
	delete(m, s.UID)
	return !ok || g == deletionExpected
}

// stale tells whether the cached slices of a Service lag behind this
// controller's writes: a slice it deleted is still there, one it wrote is
// missing or older.
func (t *tracker) stale(service types.NamespacedName, cached []*discovery.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	want, ok := t.byService[service]
	if !ok {
		return false
	}
	seen := make(map[types.UID]bool, len(cached))
	for _, s := range cached {
		seen[s.UID] = true
		if g, ok := want[s.UID]; ok && (g == deletionExpected || g > s.Generation) {
			return true
		}
	}
	for uid, g := range want {
		if g != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}

// forget drops what is known of a deleted Service.
func (t *tracker) forget(service types.NamespacedName) {
	t.mu.Lock()
	delete(t.byService, service)
	t.mu.Unlock()
}
