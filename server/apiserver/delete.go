//lint:file-ignore SA1019 orphanDependents is deprecated but still part of DeleteOptions, which the API must honour.

package apiserver

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/registry/rest"
	api "k8s.io/kubernetes/pkg/apis/core"

	"kite/server/storage"
)

// deleteOptions reads DeleteOptions from the body (as kubectl sends them)
// or from query parameters.
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		// client-go sends DeleteOptions as protobuf for built-in kinds.
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		info, err := negotiation.NegotiateInputSerializer(r, false, codecs)
		if err != nil {
			return nil, err
		}
		obj, _, err := info.Serializer.Decode(body, &gvk, opts)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if obj != opts {
			return nil, apierrors.NewBadRequest("decoded object cannot be converted to DeleteOptions")
		}
	} else if err := parameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if dry, err := dryRun(r); err != nil {
		return nil, err
	} else if dry {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("DeleteOptions").GroupKind(), "", errs)
	}
	return opts, nil
}

func (h *resourceHandler) delete(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, deleted, err := h.deleteObject(r, info, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeDeleted(w, r, out, deleted, opts)
}

func (h *resourceHandler) writeDeleted(w http.ResponseWriter, r *http.Request, out runtime.Object, deleted bool, opts *metav1.DeleteOptions) {
	code := http.StatusOK
	if !deleted && opts.OrphanDependents != nil && !*opts.OrphanDependents {
		code = http.StatusAccepted
	}
	if deleted && !h.res.ReturnDeletedObject {
		m := objectMeta(out)
		writeObject(w, r, code, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details:  &metav1.StatusDetails{Name: m.GetName(), Group: h.res.Group, Kind: h.res.Resource, UID: m.GetUID()},
		}, h.res.GroupVersion)
		return
	}
	h.writeResult(w, r, code, out)
}

// deleteObject deletes one object the way kube-apiserver does: graceful
// deletion and finalizers only mark it (deletionTimestamp); otherwise it
// is removed. deleted reports whether it is gone.
func (h *resourceHandler) deleteObject(r *http.Request, info requestInfo, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	ctx := requestContext(r.Context(), info)
	dry := len(opts.DryRun) > 0
	if err := h.s.admitDelete(ctx, h, info); err != nil {
		return nil, false, err
	}
	for attempt := 0; ; attempt++ {
		current, err := h.store.Get(ctx, info.namespace, info.name)
		if err != nil {
			return nil, false, err
		}
		m := objectMeta(current)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return nil, false, apierrors.NewConflict(h.groupResource(), info.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(h.groupResource(), info.name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		rev, err := storage.ParseRevision(m.GetResourceVersion())
		if err != nil {
			return nil, false, err
		}
		// BeforeDelete settles the grace period into the options; each
		// object (and attempt) starts from the caller's options, as
		// upstream's DeleteCollection copies them per object.
		o := opts.DeepCopy()
		obj := current.DeepCopyObject()
		graceful, pending, err := rest.BeforeDelete(h.res.Strategy.(rest.RESTDeleteStrategy), ctx, obj, o)
		if err != nil {
			return nil, false, err
		}
		if pending {
			return current, false, nil
		}
		om := objectMeta(obj)
		om.SetFinalizers(withGCFinalizers(om.GetFinalizers(), o))
		held := len(om.GetFinalizers()) > 0
		if ns, ok := obj.(*api.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
			// A namespace with spec finalizers is emptied by the namespace
			// controller before it goes away.
			ns.Status.Phase = api.NamespaceTerminating
			held = true
		}
		// As upstream's store: a graceful delete records deletionTimestamp
		// and the grace period; an object held by finalizers is marked as
		// deleting. Either way the object is removed right away when
		// nothing holds it and the grace period is zero.
		out := current
		if graceful || held {
			if !graceful {
				markAsDeleting(om)
			}
			if dry {
				out = obj
			} else if same, err := h.sameStored(obj, current); err != nil || !same {
				out, err = h.store.Update(ctx, info.namespace, info.name, obj, rev)
				if apierrors.IsConflict(err) && attempt < maxConflictRetries {
					continue
				}
				if err != nil {
					return nil, false, err
				}
				if rev, err = storage.ParseRevision(objectMeta(out).GetResourceVersion()); err != nil {
					return nil, false, err
				}
			}
			if held || (o.GracePeriodSeconds != nil && *o.GracePeriodSeconds > 0) {
				return out, false, nil
			}
		}
		if dry {
			return out, true, nil
		}
		out, err = h.store.Delete(ctx, info.namespace, info.name, out, rev)
		if apierrors.IsConflict(err) && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		h.s.releaseOnDelete(h, out)
		return out, true, nil
	}
}

// markAsDeleting marks an object that cannot be deleted gracefully but is
// held by finalizers, as upstream's store does: deletionTimestamp now (or
// kept if earlier), no grace period, and a generation bump on the first
// mark so controllers see it.
func markAsDeleting(m metav1.Object) {
	if m.GetDeletionTimestamp() == nil && m.GetGeneration() > 0 {
		m.SetGeneration(m.GetGeneration() + 1)
	}
	now := metav1.Now()
	if ts := m.GetDeletionTimestamp(); ts == nil || ts.After(now.Time) {
		m.SetDeletionTimestamp(&now)
	}
	zero := int64(0)
	m.SetDeletionGracePeriodSeconds(&zero)
}

// withGCFinalizers adds the garbage collector's finalizers that the
// propagation policy asks for, as kube-apiserver does.
func withGCFinalizers(finalizers []string, opts *metav1.DeleteOptions) []string {
	set := sets.New(finalizers...)
	orphan := opts.OrphanDependents != nil && *opts.OrphanDependents
	if p := opts.PropagationPolicy; p != nil {
		orphan = *p == metav1.DeletePropagationOrphan
		if *p == metav1.DeletePropagationForeground && !set.Has(metav1.FinalizerDeleteDependents) {
			finalizers = append(finalizers, metav1.FinalizerDeleteDependents)
		}
	}
	if orphan && !set.Has(metav1.FinalizerOrphanDependents) {
		finalizers = append(finalizers, metav1.FinalizerOrphanDependents)
	}
	return finalizers
}

func (h *resourceHandler) deleteCollection(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	lopts, err := h.listOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	lopts.Limit, lopts.Continue = 0, ""
	result, err := h.listObjects(r.Context(), info.namespace, lopts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var gone []runtime.Object
	for _, item := range result.Items {
		item = storage.Unwrap(item)
		m := objectMeta(item)
		one := info
		one.name, one.namespace, one.verb = m.GetName(), m.GetNamespace(), "delete"
		out, _, err := h.deleteObject(r, one, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		gone = append(gone, out)
	}
	list := h.res.NewList()
	if err := setListItems(list, gone); err != nil {
		writeError(w, r, err)
		return
	}
	h.writeResult(w, r, http.StatusOK, list)
}
