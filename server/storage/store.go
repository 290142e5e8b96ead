package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Store reads and writes the objects of one served resource in etcd.
type Store struct {
	client   *clientv3.Client
	cache    *Cache
	codec    Codec
	resource schema.GroupResource // for error messages, as the client asked for it
	storage  string               // storage resource: the etcd key segment
	leases   *leaseManager        // non-nil for objects that expire (events)
}

// NewStore returns the store of one served resource. The storage resource
// must have been registered with the cache under the same codec.
func NewStore(client *clientv3.Client, cache *Cache, codec Codec, resource schema.GroupResource, storageResource string, ttlSeconds int64) *Store {
	s := &Store{client: client, cache: cache, codec: codec, resource: resource, storage: storageResource}
	if ttlSeconds > 0 {
		s.leases = newLeaseManager(client, ttlSeconds)
	}
	return s
}

// Cache returns the watch cache the store's resource lives in.
func (s *Store) Cache() *Cache { return s.cache }

// StorageResource names the etcd key segment of the store.
func (s *Store) StorageResource() string { return s.storage }

// Prefix is the key prefix of all objects in namespace ns ("" for all).
func (s *Store) Prefix(ns string) string {
	p := ResourcePrefix(s.storage)
	if ns != "" {
		p += ns + "/"
	}
	return p
}

// Key is the etcd key of one object.
func (s *Store) Key(ns, name string) string { return s.Prefix(ns) + name }

// Cached returns the object from the watch cache, falling back to a
// consistent read from etcd when the cache does not hold it (yet). Callers
// use it where a slightly stale object is fine but a missing one is not.
func (s *Store) Cached(ctx context.Context, ns, name string) (runtime.Object, error) {
	if obj, ok := s.cache.Get(s.storage, s.Key(ns, name)); ok {
		return obj, nil
	}
	return s.Get(ctx, ns, name)
}

// Get reads one object straight from etcd (a consistent read).
func (s *Store) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	resp, err := s.client.Get(ctx, s.Key(ns, name))
	if err != nil {
		return nil, storageError(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, apierrors.NewNotFound(s.resource, name)
	}
	return s.decodeKV(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

func (s *Store) decodeKV(data []byte, rev int64) (runtime.Object, error) {
	obj, err := s.codec.Decode(data)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if err := setRV(obj, rev); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return obj, nil
}

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	// resourceVersion is the etcd revision and is never stored.
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	data, err := s.codec.Encode(obj)
	m.SetResourceVersion(rv)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return data, nil
}

func (s *Store) putOptions(ctx context.Context) ([]clientv3.OpOption, error) {
	if s.leases == nil {
		return nil, nil
	}
	id, err := s.leases.lease(ctx)
	if err != nil {
		return nil, storageError(err)
	}
	return []clientv3.OpOption{clientv3.WithLease(id)}, nil
}

// Create stores a new object; it fails with AlreadyExists if the key is
// taken. The returned object carries the new resourceVersion.
func (s *Store) Create(ctx context.Context, ns, name string, obj runtime.Object) (runtime.Object, error) {
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	opts, err := s.putOptions(ctx)
	if err != nil {
		return nil, err
	}
	key := s.Key(ns, name)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data), opts...)).
		Commit()
	if err != nil {
		return nil, storageError(err)
	}
	if !resp.Succeeded {
		return nil, apierrors.NewAlreadyExists(s.resource, name)
	}
	out := obj.DeepCopyObject()
	if err := setRV(out, resp.Header.Revision); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}

// Update replaces an object if its stored revision is still expectedRev.
// A mismatch is a 409 Conflict, as upstream's optimistic concurrency.
func (s *Store) Update(ctx context.Context, ns, name string, obj runtime.Object, expectedRev int64) (runtime.Object, error) {
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	opts, err := s.putOptions(ctx)
	if err != nil {
		return nil, err
	}
	key := s.Key(ns, name)
	return s.swap(ctx, name, expectedRev, clientv3.OpPut(key, string(data), opts...), obj)
}

// swap runs op on the object's key if its stored revision is still
// expectedRev, and returns obj carrying the new revision. A missing object
// is NotFound and a changed one a Conflict.
func (s *Store) swap(ctx context.Context, name string, expectedRev int64, op clientv3.Op, obj runtime.Object) (runtime.Object, error) {
	key := string(op.KeyBytes())
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expectedRev)).
		Then(op).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return nil, storageError(err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return nil, apierrors.NewNotFound(s.resource, name)
		}
		return nil, s.conflict(name)
	}
	out := obj.DeepCopyObject()
	if err := setRV(out, resp.Header.Revision); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}

func (s *Store) conflict(name string) error {
	return apierrors.NewConflict(s.resource, name, errors.New(registryConflictMessage))
}

const registryConflictMessage = "the object has been modified; please apply your changes to the latest version and try again"

// Delete removes an object if its stored revision is still expectedRev and
// returns it with the deletion's revision.
func (s *Store) Delete(ctx context.Context, ns, name string, obj runtime.Object, expectedRev int64) (runtime.Object, error) {
	return s.swap(ctx, name, expectedRev, clientv3.OpDelete(s.Key(ns, name)), obj)
}

// ListOptions selects a page of objects read from etcd.
type ListOptions struct {
	Predicate Predicate
	Limit     int64
	Continue  string
	// Revision reads at this etcd revision; 0 reads the latest.
	Revision int64
}

// ListResult is one page of a list.
type ListResult struct {
	Items     []runtime.Object
	Revision  int64
	Continue  string
	Remaining *int64
}

// continueToken is the opaque continue value; its shape follows
// kube-apiserver's so tokens look familiar in logs.
type continueToken struct {
	APIVersion string `json:"v"`
	Revision   int64  `json:"rv"`
	StartKey   string `json:"start"`
}

func decodeContinue(token, prefix string) (rev int64, start string, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", fmt.Errorf("continue key is not valid: %v", err)
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil || t.APIVersion != "meta.k8s.io/v1" {
		return 0, "", fmt.Errorf("continue key is not valid")
	}
	if t.Revision <= 0 || strings.Contains(t.StartKey, "..") || strings.HasPrefix(t.StartKey, "/") {
		return 0, "", fmt.Errorf("continue key is not valid")
	}
	return t.Revision, prefix + t.StartKey, nil
}

func encodeContinue(key, prefix string, rev int64) string {
	data, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", Revision: rev, StartKey: strings.TrimPrefix(key, prefix)})
	return base64.RawURLEncoding.EncodeToString(data)
}

// ListPage reads one page straight from etcd at a single revision, so the
// pages of one list form a consistent snapshot, as upstream's paging does.
func (s *Store) ListPage(ctx context.Context, ns string, opts ListOptions) (*ListResult, error) {
	prefix := s.Prefix(ns)
	start, rev := prefix, opts.Revision
	if opts.Continue != "" {
		r, k, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		rev, start = r, k
	}
	end := prefixEnd(prefix)
	res := &ListResult{}
	limit := opts.Limit
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end)}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		if limit > 0 {
			getOpts = append(getOpts, clientv3.WithLimit(limit+1))
		}
		resp, err := s.client.Get(ctx, start, getOpts...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				if opts.Continue != "" {
					return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
				}
				return nil, apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
			}
			return nil, storageError(err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		res.Revision = rev
		kvs := resp.Kvs
		more := resp.More
		for i, kv := range kvs {
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				// A full page: the next one starts at this key.
				res.Continue = encodeContinue(string(kv.Key), prefix, rev)
				if opts.Predicate.Label.Empty() && opts.Predicate.Field.Empty() {
					n := resp.Count - int64(i)
					res.Remaining = &n
				}
				return res, nil
			}
			obj, err := s.decodeKV(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			ok, err := s.cache.Matches(s.storage, obj, opts.Predicate)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			if ok {
				res.Items = append(res.Items, obj)
			}
		}
		if !more || len(kvs) == 0 {
			return res, nil
		}
		// The page is not full yet because the selector skipped objects;
		// read on after the last key.
		start = string(kvs[len(kvs)-1].Key) + "\x00"
	}
}

// storageError maps etcd client errors to API errors.
func storageError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return apierrors.NewTimeoutError(err.Error(), 1)
	}
	return apierrors.NewInternalError(err)
}

// ParseRevision parses a resourceVersion; "" and "0" are 0.
func ParseRevision(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", rv))
	}
	return n, nil
}
