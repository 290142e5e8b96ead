package daemonset

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long a DaemonSet waits for the informer to
// report its own creates and deletes (a lost watch event must not stall
// it forever).
const expectationsTTL = 5 * time.Minute

// expectations counts, per DaemonSet key, the pod creates and deletes the
// controller made and the informer has not reported yet. While any are
// outstanding the cache is behind and the set must not create or delete
// more pods (it would create a second pod for a node, say).
type expectations struct {
	mu    sync.Mutex
	byKey map[string]*pending
	now   func() time.Time
}

type pending struct {
	adds, dels int
	since      time.Time
}

func newExpectations() *expectations {
	return &expectations{byKey: map[string]*pending{}, now: time.Now}
}

// expect records that adds creates and dels deletes are under way.
func (e *expectations) expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &pending{adds: adds, dels: dels, since: e.now()}
}

// observed lowers the outstanding counts (an observed event, or a request
// that failed and so will never be observed).
func (e *expectations) observed(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.byKey[key]; p != nil {
		p.adds -= adds
		p.dels -= dels
	}
}

// satisfied tells whether everything expected for key was seen, or the
// expectation has expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.byKey[key]
	return p == nil || (p.adds <= 0 && p.dels <= 0) || e.now().Sub(p.since) > expectationsTTL
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
