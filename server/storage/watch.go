package storage

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Predicate selects objects by labels and fields; nil selectors match all.
type Predicate struct {
	Label labels.Selector
	Field fields.Selector
}

func (p Predicate) matches(e *entry) bool {
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(e.labels) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(e.fields) {
		return false
	}
	return true
}

// watchBuffer is how many events a watcher may fall behind before it is
// closed; the client then resumes from its last resourceVersion.
const watchBuffer = 1024

// Watcher is one client's watch on a cache resource.
type Watcher struct {
	cache   *Cache
	rc      *resourceCache
	prefix  string
	pred    Predicate
	newObj  func() runtime.Object
	initial []watch.Event
	ch      chan watch.Event
	stopped bool // guarded by cache.mu
}

// WatchOptions says where a watch starts.
type WatchOptions struct {
	// FromRevision resumes after this revision; 0 starts with the current
	// state as ADDED events.
	FromRevision int64
	// InitialEventsEnd sends a BOOKMARK marked k8s.io/initial-events-end
	// after the initial state (the watch-list mode of client-go informers).
	InitialEventsEnd bool
}

// Watch starts a watch over the keys under prefix of storageResource.
// newObj makes the empty objects bookmarks carry.
func (c *Cache) Watch(ctx context.Context, storageResource, prefix string, pred Predicate, newObj func() runtime.Object, opts WatchOptions) (*Watcher, error) {
	if opts.FromRevision > 0 {
		// A client may have seen a newer revision through another server or
		// a direct read; wait briefly for the cache to catch up.
		if err := c.WaitForResourceVersion(ctx, opts.FromRevision); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := c.resources[storageResource]
	if rc == nil {
		return nil, fmt.Errorf("resource %q is not cached", storageResource)
	}
	w := &Watcher{cache: c, rc: rc, prefix: prefix, pred: pred, newObj: newObj, ch: make(chan watch.Event, watchBuffer)}
	if opts.FromRevision == 0 {
		rc.items.AscendGreaterOrEqual(&entry{key: prefix}, func(e *entry) bool {
			if !strings.HasPrefix(e.key, prefix) {
				return false
			}
			if pred.matches(e) {
				w.initial = append(w.initial, watch.Event{Type: watch.Added, Object: e.cached})
			}
			return true
		})
		if opts.InitialEventsEnd {
			w.initial = append(w.initial, w.bookmark(c.rev, true))
		}
	} else {
		if opts.FromRevision < rc.complete {
			return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", opts.FromRevision, rc.complete))
		}
		for _, e := range rc.history {
			if e.rev <= opts.FromRevision {
				continue
			}
			if out, ok := w.filter(e); ok {
				w.initial = append(w.initial, out)
			}
		}
	}
	rc.watchers[w] = struct{}{}
	return w, nil
}

// Initial returns the events the watch starts with, before ResultChan.
func (w *Watcher) Initial() []watch.Event { return w.initial }

// ResultChan delivers events after the initial ones; it is closed when the
// watcher is stopped or falls too far behind.
func (w *Watcher) ResultChan() <-chan watch.Event { return w.ch }

// Stop ends the watch.
func (w *Watcher) Stop() {
	w.cache.mu.Lock()
	defer w.cache.mu.Unlock()
	w.stopLocked()
}

func (w *Watcher) stopLocked() {
	if w.stopped {
		return
	}
	w.stopped = true
	delete(w.rc.watchers, w)
	close(w.ch)
}

// RequestBookmark queues a BOOKMARK with the cache's current revision. It
// travels through the same channel as events, so a client never sees a
// bookmark ahead of an event it has not received yet.
func (w *Watcher) RequestBookmark() {
	w.cache.mu.Lock()
	defer w.cache.mu.Unlock()
	if w.stopped {
		return
	}
	w.deliver(w.bookmark(w.cache.rev, false))
}

func (w *Watcher) bookmark(rev int64, initialEventsEnd bool) watch.Event {
	obj := w.newObj()
	if m, err := meta.Accessor(obj); err == nil {
		_ = setRV(obj, rev)
		if initialEventsEnd {
			m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		}
	}
	return watch.Event{Type: watch.Bookmark, Object: obj}
}

// send is called by the cache, holding cache.mu, for every event of the
// watcher's resource.
func (w *Watcher) send(e *event) {
	if out, ok := w.filter(e); ok {
		w.deliver(out)
	}
}

func (w *Watcher) deliver(out watch.Event) {
	select {
	case w.ch <- out:
	default:
		w.stopLocked() // too slow: the client re-watches from its last revision
	}
}

// filter maps a cache event to what this watcher sees: objects moving into
// the selection appear as ADDED and moving out as DELETED, as upstream does.
func (w *Watcher) filter(e *event) (watch.Event, bool) {
	if !strings.HasPrefix(e.cur.key, w.prefix) {
		return watch.Event{}, false
	}
	switch e.typ {
	case watch.Added:
		if w.pred.matches(e.cur) {
			return watch.Event{Type: watch.Added, Object: e.cur.cached}, true
		}
	case watch.Deleted:
		if w.pred.matches(e.prev) {
			return watch.Event{Type: watch.Deleted, Object: e.cur.cached}, true
		}
	case watch.Modified:
		cur, prev := w.pred.matches(e.cur), w.pred.matches(e.prev)
		switch {
		case cur && prev:
			return watch.Event{Type: watch.Modified, Object: e.cur.cached}, true
		case cur:
			return watch.Event{Type: watch.Added, Object: e.cur.cached}, true
		case prev:
			return watch.Event{Type: watch.Deleted, Object: e.cur.cached}, true
		}
	}
	return watch.Event{}, false
}

// List returns the cached objects under prefix that match pred, in key
// order, and the revision they reflect. The objects are *CachedObject:
// encode them through a codec, or Unwrap them.
func (c *Cache) List(storageResource, prefix string, pred Predicate) ([]runtime.Object, int64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rc := c.resources[storageResource]
	if rc == nil {
		return nil, 0, fmt.Errorf("resource %q is not cached", storageResource)
	}
	var out []runtime.Object
	rc.items.AscendGreaterOrEqual(&entry{key: prefix}, func(e *entry) bool {
		if !strings.HasPrefix(e.key, prefix) {
			return false
		}
		if pred.matches(e) {
			out = append(out, e.cached)
		}
		return true
	})
	return out, c.rev, nil
}

// Matches reports whether obj of storageResource matches pred; the API
// server uses it to filter objects read directly from etcd.
func (c *Cache) Matches(storageResource string, obj runtime.Object, pred Predicate) (bool, error) {
	c.mu.RLock()
	rc := c.resources[storageResource]
	c.mu.RUnlock()
	if rc == nil {
		return false, fmt.Errorf("resource %q is not cached", storageResource)
	}
	e, err := newEntry(rc, "", obj)
	if err != nil {
		return false, err
	}
	return pred.matches(e), nil
}

// Get returns the cached object at key, if the cache holds it.
func (c *Cache) Get(storageResource, key string) (runtime.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rc := c.resources[storageResource]
	if rc == nil {
		return nil, false
	}
	e, ok := rc.items.Get(&entry{key: key})
	if !ok {
		return nil, false
	}
	return e.obj, true
}
