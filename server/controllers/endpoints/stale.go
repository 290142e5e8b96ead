package endpoints

import "sync"

// staleVersions remembers, per Endpoints key, the resourceVersion this
// controller last replaced, so a sync that still reads that version from
// the informer cache knows the cache lags behind its own write and waits
// instead of writing from outdated information.
type staleVersions struct {
	mu       sync.Mutex
	replaced map[string]string
}

func newStaleVersions() *staleVersions {
	return &staleVersions{replaced: map[string]string{}}
}

func (s *staleVersions) replace(key, resourceVersion string) {
	s.mu.Lock()
	s.replaced[key] = resourceVersion
	s.mu.Unlock()
}

func (s *staleVersions) isStale(key, resourceVersion string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rv, ok := s.replaced[key]
	return ok && rv == resourceVersion
}

func (s *staleVersions) forget(key string) {
	s.mu.Lock()
	delete(s.replaced, key)
	s.mu.Unlock()
}
