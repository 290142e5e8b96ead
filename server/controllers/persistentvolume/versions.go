package persistentvolume

import (
	"strconv"
	"sync"
)

// versions remembers the resourceVersion of each object the controller
// wrote until the informer's copy catches up with it. A sync of an older
// cached copy would decide on a state the controller itself has already
// left (and end in a conflict, or in a needless event).
type versions struct {
	mu      sync.Mutex
	written map[string]uint64
}

func newVersions() *versions { return &versions{written: map[string]uint64{}} }

// record notes that the object key was written at resourceVersion rv.
func (v *versions) record(key, rv string) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n > v.written[key] {
		v.written[key] = n
	}
}

// stale tells whether a cached copy of key at rv is older than the
// controller's own last write of it. Once the cache has caught up the
// write is forgotten.
func (v *versions) stale(key, rv string) bool {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	last, ok := v.written[key]
	if !ok {
		return false
	}
	if n >= last {
		delete(v.written, key)
		return false
	}
	return true
}

// forget drops what is known of key (the object is gone).
func (v *versions) forget(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.written, key)
}
