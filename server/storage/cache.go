package storage

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	apistorage "k8s.io/apiserver/pkg/storage"
)

// AttrFunc returns the labels and selectable fields of an internal object.
type AttrFunc func(runtime.Object) (labels.Set, fields.Set, error)

// entry is one object held by the cache together with its selectable
// attributes, computed once when the object arrives.
type entry struct {
	key    string
	obj    runtime.Object
	cached *CachedObject // obj with its encodings, what lists and watches send
	labels labels.Set
	fields fields.Set
}

func lessEntry(a, b *entry) bool { return a.key < b.key }

// event is one change to an object, as the cache saw it from etcd.
type event struct {
	typ  watch.EventType
	rev  int64
	cur  *entry // the object after the change (for deletes: the last state)
	prev *entry // the object before the change; nil for adds
}

// historySize bounds the events kept per resource for watches that resume
// from an older resourceVersion; older ones get 410 Gone and re-list.
const historySize = 4096

// resourceCache holds the current objects and recent events of one storage
// resource.
type resourceCache struct {
	codec Codec
	attrs AttrFunc

	items    *btree.BTreeG[*entry]
	history  []*event // ring of the last historySize events, oldest first
	complete int64    // history holds every event after this revision
	watchers map[*Watcher]struct{}
}

// Cache is the watch cache of the whole server: one etcd watch over the
// entire keyspace keeps every registered resource current. Watching every
// key (not just /registry/) means each etcd revision reaches the cache, so
// waiting for the cache to reach the store's current revision always ends.
type Cache struct {
	client *clientv3.Client
	log    *slog.Logger

	mu        sync.RWMutex
	rev       int64         // highest etcd revision applied
	revSignal chan struct{} // closed and replaced whenever rev advances
	resources map[string]*resourceCache
	ready     chan struct{}
}

// NewCache returns a cache over client; Register resources, then Start it.
func NewCache(client *clientv3.Client) *Cache {
	return &Cache{
		client:    client,
		log:       slog.Default().With("component", "watch-cache"),
		revSignal: make(chan struct{}),
		resources: map[string]*resourceCache{},
		ready:     make(chan struct{}),
	}
}

// Register adds a storage resource to the cache. It must be called before
// Start; registering one storage resource twice is a no-op.
func (c *Cache) Register(storageResource string, codec Codec, attrs AttrFunc) {
	if _, ok := c.resources[storageResource]; ok {
		return
	}
	c.resources[storageResource] = &resourceCache{
		codec:    codec,
		attrs:    attrs,
		items:    btree.NewG(32, lessEntry),
		watchers: map[*Watcher]struct{}{},
	}
}

// Start loads every registered resource from etcd and keeps it current
// until ctx ends.
func (c *Cache) Start(ctx context.Context) error {
	resp, err := c.client.Get(ctx, RootPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("loading objects from etcd: %w", err)
	}
	c.mu.Lock()
	for _, kv := range resp.Kvs {
		res, rc := c.resourceFor(string(kv.Key))
		if rc == nil {
			continue
		}
		e, err := c.decode(rc, kv)
		if err != nil {
			c.log.Error("skipping undecodable object", "resource", res, "key", string(kv.Key), "err", err)
			continue
		}
		rc.items.ReplaceOrInsert(e)
	}
	c.rev = resp.Header.Revision
	for _, rc := range c.resources {
		rc.complete = c.rev
	}
	c.mu.Unlock()
	close(c.ready)
	go c.run(ctx, c.rev)
	return nil
}

func (c *Cache) resourceFor(key string) (string, *resourceCache) {
	res, ok := resourceOfKey(key)
	if !ok {
		return "", nil
	}
	return res, c.resources[res]
}

func (c *Cache) decode(rc *resourceCache, kv *mvccpb.KeyValue) (*entry, error) {
	obj, err := rc.codec.Decode(kv.Value)
	if err != nil {
		return nil, err
	}
	if err := setRV(obj, kv.ModRevision); err != nil {
		return nil, err
	}
	return newEntry(rc, string(kv.Key), obj)
}

func newEntry(rc *resourceCache, key string, obj runtime.Object) (*entry, error) {
	e := &entry{key: key, obj: obj, cached: newCachedObject(obj)}
	if rc.attrs != nil {
		l, f, err := rc.attrs(obj)
		if err != nil {
			return nil, err
		}
		e.labels, e.fields = l, f
	} else {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		e.labels = m.GetLabels()
		e.fields = fields.Set{"metadata.name": m.GetName()}
		if ns := m.GetNamespace(); ns != "" {
			e.fields["metadata.namespace"] = ns
		}
	}
	return e, nil
}

func setRV(obj runtime.Object, rev int64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// run follows etcd from rev+1, restarting the watch if it breaks.
func (c *Cache) run(ctx context.Context, rev int64) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := c.client.Watch(wctx, "\x00", clientv3.WithFromKey(), clientv3.WithRev(rev+1), clientv3.WithPrevKV())
		for resp := range ch {
			if err := resp.Err(); err != nil {
				c.log.Warn("etcd watch failed; restarting", "err", err)
				break
			}
			for _, ev := range resp.Events {
				c.apply(ev)
			}
			if n := len(resp.Events); n > 0 {
				rev = resp.Events[n-1].Kv.ModRevision
			}
		}
		cancel()
		if ctx.Err() == nil {
			// A compacted start revision cannot be resumed; this only happens
			// after a long etcd outage, and the cache then stays at its
			// revision until the process restarts.
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// apply turns one etcd event into a cache change and dispatches it.
func (c *Cache) apply(ev *clientv3.Event) {
	rev := ev.Kv.ModRevision
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.advance(rev)
	_, rc := c.resourceFor(string(ev.Kv.Key))
	if rc == nil {
		return
	}
	key := string(ev.Kv.Key)
	var prev *entry
	if old, ok := rc.items.Get(&entry{key: key}); ok {
		prev = old
	}
	var e *event
	if ev.Type == clientv3.EventTypeDelete {
		if prev == nil {
			return
		}
		// A deleted object is reported with the deletion's revision, as
		// kube-apiserver does.
		obj := prev.obj.DeepCopyObject()
		if err := setRV(obj, rev); err != nil {
			return
		}
		cur, err := newEntry(rc, key, obj)
		if err != nil {
			return
		}
		rc.items.Delete(prev)
		e = &event{typ: watch.Deleted, rev: rev, cur: cur, prev: prev}
	} else {
		cur, err := c.decode(rc, ev.Kv)
		if err != nil {
			c.log.Error("skipping undecodable object", "key", key, "err", err)
			return
		}
		rc.items.ReplaceOrInsert(cur)
		typ := watch.Modified
		if prev == nil {
			typ = watch.Added
		}
		e = &event{typ: typ, rev: rev, cur: cur, prev: prev}
	}
	rc.history = append(rc.history, e)
	if len(rc.history) > historySize {
		drop := len(rc.history) - historySize
		rc.complete = rc.history[drop-1].rev
		rc.history = append([]*event(nil), rc.history[drop:]...)
	}
	for w := range rc.watchers {
		w.send(e)
	}
}

// advance records that rev has been applied; callers hold c.mu.
func (c *Cache) advance(rev int64) {
	if rev <= c.rev {
		return
	}
	c.rev = rev
	close(c.revSignal)
	c.revSignal = make(chan struct{})
}

// Revision is the latest etcd revision the cache has applied.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// WaitForRevision blocks until the cache has applied rev or ctx ends.
func (c *Cache) WaitForRevision(ctx context.Context, rev int64) error {
	for {
		c.mu.RLock()
		cur, signal := c.rev, c.revSignal
		c.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-signal:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tooLargeWait is how long a read at a resourceVersion the cache has not
// reached yet waits before failing, as kube-apiserver's watch cache does.
const tooLargeWait = 3 * time.Second

// WaitForResourceVersion waits briefly for the cache to reach rev. If it
// does not, the error is kube-apiserver's 504 "Too large resource version"
// carrying the ResourceVersionTooLarge cause client-go's reflector checks.
func (c *Cache) WaitForResourceVersion(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithTimeout(ctx, tooLargeWait)
	defer cancel()
	if err := c.WaitForRevision(wctx, rev); err != nil {
		return apistorage.NewTooLargeResourceVersionError(uint64(rev), uint64(c.Revision()), 1)
	}
	return nil
}

// WaitFresh waits until the cache holds everything etcd has committed so
// far, so a read from the cache is as consistent as a read from etcd.
func (c *Cache) WaitFresh(ctx context.Context) (int64, error) {
	resp, err := c.client.Get(ctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	rev := resp.Header.Revision
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.WaitForRevision(ctx, rev); err != nil {
		return 0, fmt.Errorf("waiting for the watch cache to reach revision %d: %w", rev, err)
	}
	return rev, nil
}

// Ready is closed once the initial load finished.
func (c *Cache) Ready() <-chan struct{} { return c.ready }
