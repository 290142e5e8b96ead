package job

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

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
