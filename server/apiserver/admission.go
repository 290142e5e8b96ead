package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	api "k8s.io/kubernetes/pkg/apis/core"
)

// immortalNamespaces may never be deleted, as kube-apiserver's
// NamespaceLifecycle admission enforces.
var immortalNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

var namespacesGR = schema.GroupResource{Resource: "namespaces"}

func (s *Server) handlerFor(gr schema.GroupResource) *resourceHandler { return s.byGR[gr] }

// admitCreate rejects new objects in namespaces that do not exist or are
// being deleted, and what nodes may not create, and completes new pods.
func (s *Server) admitCreate(ctx context.Context, h *resourceHandler, obj runtime.Object) error {
	if err := restrictNodeCreate(ctx, h, obj); err != nil {
		return err
	}
	if !h.res.Namespaced {
		return nil
	}
	if err := s.admitNamespace(ctx, h, obj); err != nil {
		return err
	}
	if pod, ok := obj.(*api.Pod); ok {
		if err := s.admitServiceAccount(ctx, h, pod); err != nil {
			return err
		}
		return s.admitPod(ctx, h, pod)
	}
	return nil
}

// admitNamespace is kube-apiserver's NamespaceLifecycle admission.
func (s *Server) admitNamespace(ctx context.Context, h *resourceHandler, obj runtime.Object) error {
	ns := objectMeta(obj).GetNamespace()
	store := s.handlerFor(namespacesGR).store
	nsObj, err := store.Cached(ctx, "", ns)
	if err != nil {
		return err
	}
	if n := nsObj.(*api.Namespace); n.Status.Phase != api.NamespaceTerminating && s.recentlyDeleted(ns) {
		// The cache may not have seen the delete yet.
		if nsObj, err = store.Get(ctx, "", ns); err != nil {
			return err
		}
	}
	if n := nsObj.(*api.Namespace); n.DeletionTimestamp != nil || n.Status.Phase == api.NamespaceTerminating {
		err := apierrors.NewForbidden(h.groupResource(), objectMeta(obj).GetName(),
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		// Controllers recognise this error by its cause (upstream's
		// NamespaceLifecycle admission adds it).
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", ns),
			Field:   "metadata.namespace",
		})
		return err
	}
	return nil
}

// admitUpdate applies per-kind rules that need more than the strategy,
// before validation. finish is called with whether the update was stored.
func (s *Server) admitUpdate(ctx context.Context, h *resourceHandler, obj, old runtime.Object) (finish func(stored bool), err error) {
	if err := restrictNodeUpdate(ctx, h, obj, old); err != nil {
		return nil, err
	}
	switch o := obj.(type) {
	case *api.Service:
		return s.admitServiceUpdate(ctx, h, o, old.(*api.Service))
	case *api.Pod:
		keepPriority(o, old.(*api.Pod))
	}
	return func(bool) {}, nil
}

// admitDelete protects the namespaces the cluster cannot live without.
func (s *Server) admitDelete(_ context.Context, h *resourceHandler, info requestInfo) error {
	if h.res.Kind == "Namespace" {
		if immortalNamespaces[info.name] {
			return apierrors.NewForbidden(namespacesGR, info.name, fmt.Errorf("this namespace may not be deleted"))
		}
		now := time.Now()
		s.deletedNamespaces.Range(func(k, v any) bool {
			if now.Sub(v.(time.Time)) > forceLiveLookupTTL {
				s.deletedNamespaces.Delete(k)
			}
			return true
		})
		s.deletedNamespaces.Store(info.name, now)
	}
	return nil
}

// forceLiveLookupTTL is how long creates in a namespace deleted through
// this server look the namespace up in etcd, as kube-apiserver does.
const forceLiveLookupTTL = 30 * time.Second

func (s *Server) recentlyDeleted(ns string) bool {
	v, ok := s.deletedNamespaces.Load(ns)
	return ok && time.Since(v.(time.Time)) <= forceLiveLookupTTL
}

func fieldRequired(path, detail string) field.ErrorList {
	return field.ErrorList{field.Required(field.NewPath(path), detail)}
}

func fieldInvalid(path string, value any, detail string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, detail)}
}
