package replicaset

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long a ReplicaSet waits for the informer to
// report the pods it created or deleted: if a watch event is lost, the
// ReplicaSet is managed again after this long anyway.
const expectationsTTL = 5 * time.Minute

// expectations remembers, per ReplicaSet key, the pod creations and
// deletions it has asked for but not yet seen in the informer. Until they
// are all seen the ReplicaSet is not managed again, so a lagging cache
// never makes it create or delete twice.
type expectations struct {
	mu    sync.Mutex
	byKey map[string]*expected
	now   func() time.Time
}

type expected struct {
	creates int
	deletes map[string]bool // pod keys whose deletion is awaited
	since   time.Time
}

func newExpectations() *expectations {
	return &expectations{byKey: map[string]*expected{}, now: time.Now}
}

// satisfied tells whether the ReplicaSet may be managed: nothing awaited,
// or the wait has gone on for too long.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok {
		return true
	}
	return (x.creates <= 0 && len(x.deletes) == 0) || e.now().Sub(x.since) > expectationsTTL
}

// expectCreations replaces what key awaits with n creations.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expected{creates: n, since: e.now()}
}

// expectDeletions replaces what key awaits with the deletion of the given
// pods.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expected{deletes: map[string]bool{}, since: e.now()}
	for _, k := range podKeys {
		x.deletes[k] = true
	}
	e.byKey[key] = x
}

// creationObserved counts one awaited creation as seen (or as never
// going to happen, when the create failed).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		x.creates--
	}
}

// deletionObserved counts the deletion of podKey as seen, if it was
// awaited; deleting a pod someone else chose does not count.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		delete(x.deletes, podKey)
	}
}

// forget drops everything key awaited (the ReplicaSet is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
