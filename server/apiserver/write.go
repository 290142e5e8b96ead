package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	api "k8s.io/kubernetes/pkg/apis/core"

	"kite/server/storage"
)

// maxConflictRetries bounds retries of unconditional updates and patches
// that race with other writers.
const maxConflictRetries = 5

func (h *resourceHandler) create(w http.ResponseWriter, r *http.Request, info requestInfo) {
	obj, err := h.readInternal(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := h.createObject(r, info, obj, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeResult(w, r, http.StatusCreated, out)
}

// createObject runs the create path on a decoded internal object: system
// fields, admission, the strategy's defaulting and validation, managed
// fields, then storage (unless dryRun). applied is true when server-side
// apply already tracked the managed fields.
func (h *resourceHandler) createObject(r *http.Request, info requestInfo, obj runtime.Object, applied bool) (runtime.Object, error) {
	ctx := requestContext(r.Context(), info)
	dry, err := dryRun(r)
	if err != nil {
		return nil, err
	}
	manager, err := managerName(r)
	if err != nil {
		return nil, err
	}
	m := objectMeta(obj)
	rest.FillObjectMetaSystemFields(m)
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(h.res.Strategy.GenerateName(m.GetGenerateName()))
	}
	if h.res.Namespaced && m.GetNamespace() == "" {
		m.SetNamespace(info.namespace)
	}
	if err := h.s.admitCreate(ctx, h, obj); err != nil {
		return nil, err
	}
	// Service IPs and ports are allocated before validation, which
	// requires them, and released again if the create fails.
	release, err := h.s.allocateOnCreate(ctx, h, obj, dry)
	if err != nil {
		return nil, err
	}
	out, err := h.validateAndStore(ctx, r, obj, applied, dry, manager)
	if err != nil {
		release()
		return nil, err
	}
	return out, nil
}

func (h *resourceHandler) validateAndStore(ctx context.Context, r *http.Request, obj runtime.Object, applied, dry bool, manager string) (runtime.Object, error) {
	if err := rest.BeforeCreate(h.res.Strategy, ctx, obj); err != nil {
		return nil, err
	}
	if !applied {
		fm, err := h.fieldManager("", h.res.Strategy)
		if err != nil {
			return nil, err
		}
		obj = fm.UpdateNoErrors(h.res.New(), obj, manager)
	}
	m := objectMeta(obj)
	if dry {
		// A dry run fails where the real create would.
		if _, err := h.store.Get(ctx, m.GetNamespace(), m.GetName()); err == nil {
			return nil, apierrors.NewAlreadyExists(h.groupResource(), m.GetName())
		} else if !apierrors.IsNotFound(err) {
			return nil, err
		}
		return obj, nil
	}
	if m.GetResourceVersion() != "" {
		// kube-apiserver's storage refuses this with an internal error.
		return nil, apierrors.NewInternalError(errors.New("resourceVersion should not be set on objects to be created"))
	}
	out, err := h.store.Create(ctx, m.GetNamespace(), m.GetName(), obj)
	if err != nil {
		return nil, rest.CheckGeneratedNameError(ctx, h.res.Strategy, err, obj)
	}
	return out, nil
}

func (h *resourceHandler) update(w http.ResponseWriter, r *http.Request, info requestInfo, strategy rest.RESTUpdateStrategy, subresource string) {
	obj, err := h.readInternal(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	m := objectMeta(obj)
	if m.GetName() != info.name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.name)))
		return
	}
	if h.res.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(info.namespace)
		} else if m.GetNamespace() != info.namespace {
			writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
			return
		}
	}
	wantRev, err := storage.ParseRevision(m.GetResourceVersion())
	if err != nil {
		writeError(w, r, err)
		return
	}
	created := false
	out, err := h.updateLoop(r, info, strategy, subresource, false, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			created = true
			return obj.DeepCopyObject(), nil
		}
		if wantRev == 0 && !strategy.AllowUnconditionalUpdate(r.Context()) {
			return nil, apierrors.NewInvalid(h.res.GVK().GroupKind(), info.name, fieldRequired("metadata.resourceVersion", "must be specified for an update"))
		}
		if wantRev != 0 && fmt.Sprint(wantRev) != objectMeta(current).GetResourceVersion() {
			return nil, apierrors.NewConflict(h.groupResource(), info.name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
		}
		next := obj.DeepCopyObject()
		objectMeta(next).SetResourceVersion(objectMeta(current).GetResourceVersion())
		return next, nil
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	h.writeResult(w, r, code, out)
}

// updateLoop reads the current object, lets mutate compute the new one,
// runs the update strategy and writes it with compare-and-swap, retrying
// when another writer got there first. mutate sees nil when the object does
// not exist; it may then return an object to create (PUT or apply).
// applied is true when mutate already tracked managed fields (apply).
func (h *resourceHandler) updateLoop(r *http.Request, info requestInfo, strategy rest.RESTUpdateStrategy, subresource string, applied bool, mutate func(current runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	ctx := requestContext(r.Context(), info)
	dry, err := dryRun(r)
	if err != nil {
		return nil, err
	}
	manager, err := managerName(r)
	if err != nil {
		return nil, err
	}
	fm, err := h.fieldManager(subresource, strategy)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		current, err := h.store.Get(ctx, info.namespace, info.name)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if apierrors.IsNotFound(err) {
			// Server-side apply always creates, as upstream's patcher forces.
			if subresource != "" || !(applied || strategy.AllowCreateOnUpdate(ctx)) {
				if _, e := mutate(nil); e != nil && !apierrors.IsNotFound(e) {
					return nil, e
				}
				return nil, err
			}
			obj, err := mutate(nil)
			if err != nil {
				return nil, err
			}
			objectMeta(obj).SetResourceVersion("")
			return h.createObject(r, info, obj, applied)
		}
		obj, err := mutate(current)
		if err != nil {
			return nil, err
		}
		// A resourceVersion a patch put in is a precondition, as upstream.
		if v := objectMeta(obj).GetResourceVersion(); v != "" && v != objectMeta(current).GetResourceVersion() {
			return nil, apierrors.NewConflict(h.groupResource(), info.name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		// Allocations (Service IPs and ports) precede validation, which
		// needs them, as upstream's BeginUpdate hook of the main resource.
		finish := func(bool) {}
		if subresource == "" {
			if finish, err = h.s.admitUpdate(ctx, h, obj, current); err != nil {
				return nil, err
			}
		}
		if err := rest.BeforeUpdate(strategy, ctx, obj, current); err != nil {
			finish(false)
			return nil, err
		}
		if !applied {
			if obj, err = fm.Update(current, obj, manager); err != nil {
				finish(false)
				return nil, apierrors.NewInternalError(err)
			}
		}
		out, err := h.storeUpdate(ctx, info, obj, current, dry)
		finish(err == nil && !dry)
		if apierrors.IsConflict(err) && attempt < maxConflictRetries && h.unconditional(obj, current) {
			continue
		}
		return out, err
	}
}

// unconditional reports whether a conflicting write may be retried: the
// client did not pin a resourceVersion different from what we read.
func (h *resourceHandler) unconditional(obj, current runtime.Object) bool {
	return objectMeta(obj).GetResourceVersion() == objectMeta(current).GetResourceVersion()
}

// storeUpdate writes an updated object. An unchanged object is not
// written (no new resourceVersion, no watch event), and an object whose
// last finalizer went away while it was being deleted is deleted.
func (h *resourceHandler) storeUpdate(ctx context.Context, info requestInfo, obj, current runtime.Object, dry bool) (runtime.Object, error) {
	m := objectMeta(obj)
	rev, err := storage.ParseRevision(objectMeta(current).GetResourceVersion())
	if err != nil {
		return nil, err
	}
	if m.GetDeletionTimestamp() != nil && !finalizersRemain(obj) && deletionGraceDone(m) {
		if dry {
			return obj, nil
		}
		out, err := h.store.Delete(ctx, info.namespace, info.name, obj, rev)
		if err == nil {
			h.s.releaseOnDelete(h, out)
		}
		return out, err
	}
	if same, err := h.sameStored(obj, current); err == nil && same {
		return current, nil
	}
	if dry {
		return obj, nil
	}
	return h.store.Update(ctx, info.namespace, info.name, obj, rev)
}

// finalizersRemain reports whether anything still holds a deleted object:
// metadata finalizers, or a namespace's spec finalizers.
func finalizersRemain(obj runtime.Object) bool {
	if len(objectMeta(obj).GetFinalizers()) > 0 {
		return true
	}
	ns, ok := obj.(*api.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

func deletionGraceDone(m metav1.Object) bool {
	g := m.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

func (h *resourceHandler) sameStored(a, b runtime.Object) (bool, error) {
	ea, err := encodeForCompare(h, a)
	if err != nil {
		return false, err
	}
	eb, err := encodeForCompare(h, b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ea, eb), nil
}

func encodeForCompare(h *resourceHandler, obj runtime.Object) ([]byte, error) {
	c := obj.DeepCopyObject()
	objectMeta(c).SetResourceVersion("")
	return runtime.Encode(codecs.LegacyCodec(h.res.StorageVersion), c)
}
