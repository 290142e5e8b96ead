package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// expectationsTTL bounds how long a Job waits for pod events that may have
// been lost (the informer relisting, say) before syncing anyway.
const expectationsTTL = 5 * time.Minute

// podExpectations counts, per Job, the pod creations and deletions the
// controller has asked for and the informer has not shown yet. A Job with
// outstanding expectations is not scaled again: the cache is behind, and
// acting on it would create too many pods.
type podExpectations struct {
	mu      sync.Mutex
	pending map[string]*pendingPods
}

type pendingPods struct {
	creates, deletes int
	since            time.Time
}

func newPodExpectations() *podExpectations {
	return &podExpectations{pending: map[string]*pendingPods{}}
}

// satisfied tells whether the Job's cache can be trusted to act on.
func (e *podExpectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.pending[key]
	return !ok || (p.creates <= 0 && p.deletes <= 0) || time.Since(p.since) > expectationsTTL
}

// expect records creates and deletes about to be made (replacing what was
// expected before: the Job is only acted on when that was satisfied).
func (e *podExpectations) expect(key string, creates, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending[key] = &pendingPods{creates: creates, deletes: deletes, since: time.Now()}
}

// observed lowers the expectations by what the informer (or a failed
// request, which the informer will never show) accounted for.
func (e *podExpectations) observed(key string, creates, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.pending[key]; ok {
		p.creates -= creates
		p.deletes -= deletes
	}
}

func (e *podExpectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, key)
}

// finalizerExpectations remembers, per Job, the pods whose tracking
// finalizer the controller removed but the informer still shows: they are
// counted already and must not be counted again.
type finalizerExpectations struct {
	mu   sync.Mutex
	uids map[string]sets.Set[types.UID]
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{uids: map[string]sets.Set[types.UID]{}}
}

func (f *finalizerExpectations) expectRemoved(key string, uids ...types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uids[key] == nil {
		f.uids[key] = sets.New[types.UID]()
	}
	f.uids[key].Insert(uids...)
}

func (f *finalizerExpectations) observedRemoved(key string, uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.uids[key]; s != nil {
		s.Delete(uid)
	}
}

// pending returns a copy of the UIDs still expected.
func (f *finalizerExpectations) pending(key string) sets.Set[types.UID] {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uids[key].Clone()
}

func (f *finalizerExpectations) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.uids, key)
}
