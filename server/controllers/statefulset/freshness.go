package statefulset

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/tools/cache"
)

// The resources whose writes a sync must see in the informers before the
// next sync of the same set may trust the caches.
const (
	resourcePods      = "pods"
	resourceClaims    = "persistentvolumeclaims"
	resourceSets      = "statefulsets"
	resourceRevisions = "controllerrevisions"
)

// writeLog remembers, per StatefulSet, the newest resourceVersion the
// controller wrote of each resource. A set whose informers have not yet
// caught up with its own writes is not synced: acting on the older cache
// would, say, create a pod that exists or count a pod twice. (Upstream's
// controller does the same with its "consistency store".)
type writeLog struct {
	mu     sync.Mutex
	sets   map[types.NamespacedName]*setWrites
	stores map[string]cache.Store
}

type setWrites struct {
	uid     types.UID
	version map[string]string
}

func newWriteLog(stores map[string]cache.Store) *writeLog {
	return &writeLog{sets: map[types.NamespacedName]*setWrites{}, stores: stores}
}

// wrote records that the controller wrote resource at rv on behalf of set.
func (w *writeLog) wrote(set *appsv1.StatefulSet, resource, rv string) {
	key := types.NamespacedName{Namespace: set.Namespace, Name: set.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sets[key]
	if s == nil || s.uid != set.UID {
		s = &setWrites{uid: set.UID, version: map[string]string{}}
		w.sets[key] = s
	}
	if old, ok := s.version[resource]; ok {
		if cmp, err := resourceversion.CompareResourceVersion(old, rv); err == nil && cmp >= 0 {
			return
		}
	}
	s.version[resource] = rv
}

// caughtUp tells whether every informer has seen the set's writes; once
// they have, the record is dropped.
func (w *writeLog) caughtUp(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sets[key]
	if s == nil {
		return true
	}
	for resource, wrote := range s.version {
		store := w.stores[resource]
		if store == nil {
			continue
		}
		read := store.LastStoreSyncResourceVersion()
		if read == "" {
			continue
		}
		if cmp, err := resourceversion.CompareResourceVersion(wrote, read); err == nil && cmp > 0 {
			return false
		}
	}
	delete(w.sets, key)
	return true
}

// forget drops what is known of a set that is gone.
func (w *writeLog) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.sets, key)
}
