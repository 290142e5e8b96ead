package apiserver

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	api "k8s.io/kubernetes/pkg/apis/core"

	"kite/server/auth"
	"kite/server/storage"
)

var (
	podsGR            = schema.GroupResource{Resource: "pods"}
	serviceAccountsGR = schema.GroupResource{Resource: "serviceaccounts"}
	secretsGR         = schema.GroupResource{Resource: "secrets"}
	nodesGR           = schema.GroupResource{Resource: "nodes"}
	claimsGR          = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

// nodeGraph answers the node authorizer from the watch cache, which
// already holds every pod: no second copy of the cluster is kept for it.
type nodeGraph struct{ s *Server }

func (g nodeGraph) PodsOnNode(_ context.Context, node, namespace string) ([]*api.Pod, error) {
	pods := g.s.handlerFor(podsGR).store
	items, _, err := pods.Cache().List(pods.StorageResource(), pods.Prefix(namespace), storage.Predicate{Field: fields.OneTermEqualSelector("spec.nodeName", node)})
	if err != nil {
		return nil, err
	}
	out := make([]*api.Pod, 0, len(items))
	for _, item := range items {
		if pod, ok := storage.Unwrap(item).(*api.Pod); ok {
			out = append(out, pod)
		}
	}
	return out, nil
}

func (g nodeGraph) PodNodeName(ctx context.Context, namespace, name string) (string, error) {
	obj, err := g.s.cachedObject(ctx, podsGR, namespace, name)
	if err != nil {
		return "", err
	}
	return obj.(*api.Pod).Spec.NodeName, nil
}

func (g nodeGraph) ClaimVolumeName(ctx context.Context, namespace, name string) (string, error) {
	obj, err := g.s.cachedObject(ctx, claimsGR, namespace, name)
	if err != nil {
		return "", err
	}
	return obj.(*api.PersistentVolumeClaim).Spec.VolumeName, nil
}

// cachedObject reads an object from the watch cache (etcd when the cache
// does not hold it yet); a missing object is auth.ErrObjectNotFound.
func (s *Server) cachedObject(ctx context.Context, gr schema.GroupResource, namespace, name string) (runtime.Object, error) {
	h := s.handlerFor(gr)
	if h == nil {
		return nil, fmt.Errorf("resource %s is not served", gr)
	}
	obj, err := h.store.Cached(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, auth.ErrObjectNotFound
	}
	if err != nil {
		return nil, err
	}
	return storage.Unwrap(obj), nil
}

// objectLookup finds the objects service-account tokens are bound to.
type objectLookup struct{ s *Server }

var boundKinds = map[string]schema.GroupResource{
	"ServiceAccount": serviceAccountsGR,
	"Pod":            podsGR,
	"Secret":         secretsGR,
	"Node":           nodesGR,
}

func (l objectLookup) LookupObject(ctx context.Context, kind, namespace, name string) (types.UID, *time.Time, error) {
	gr, ok := boundKinds[kind]
	if !ok {
		return "", nil, fmt.Errorf("tokens cannot be bound to a %s", kind)
	}
	obj, err := l.s.cachedObject(ctx, gr, namespace, name)
	if err != nil {
		return "", nil, err
	}
	m := objectMeta(obj)
	if ts := m.GetDeletionTimestamp(); ts != nil {
		t := ts.Time
		return m.GetUID(), &t, nil
	}
	return m.GetUID(), nil, nil
}
