package apiserver

import (
	"context"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	"k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"kite/server/storage"
)

func (h *resourceHandler) get(w http.ResponseWriter, r *http.Request, info requestInfo) {
	obj, err := h.store.Get(r.Context(), info.namespace, info.name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeResult(w, r, http.StatusOK, obj)
}

// listOptions parses and validates list/watch query parameters.
func (h *resourceHandler) listOptions(r *http.Request) (*metainternalversion.ListOptions, error) {
	opts := &metainternalversion.ListOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	// Watch-list (sendInitialEvents) is served: client-go informers use it.
	if errs := validation.ValidateListOptions(opts, true); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schemaListOptionsKind, "", errs)
	}
	if opts.FieldSelector != nil {
		// Only the fields a resource declares may be selected on, as
		// upstream's field label conversion enforces.
		sel, err := opts.FieldSelector.Transform(func(field, value string) (string, string, error) {
			f, v, err := scheme.ConvertFieldLabel(h.res.GVK(), field, value)
			if err != nil {
				return "", "", apierrors.NewBadRequest(err.Error())
			}
			return f, v, nil
		})
		if err != nil {
			if apierrors.IsBadRequest(err) {
				return nil, err
			}
			return nil, apierrors.NewBadRequest(err.Error())
		}
		opts.FieldSelector = sel
	}
	return opts, nil
}

var schemaListOptionsKind = metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind()

func predicateOf(opts *metainternalversion.ListOptions) storage.Predicate {
	p := storage.Predicate{Label: opts.LabelSelector, Field: opts.FieldSelector}
	if p.Field == nil {
		p.Field = fields.Everything()
	}
	return p
}

func (h *resourceHandler) list(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := h.listOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	result, err := h.listObjects(r.Context(), info.namespace, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if h.writeJSONList(w, r, result) {
		return
	}
	list := h.res.NewList()
	if err := setListItems(list, result.Items); err != nil {
		writeError(w, r, err)
		return
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	lm.SetResourceVersion(fmt.Sprint(result.Revision))
	lm.SetContinue(result.Continue)
	lm.SetRemainingItemCount(result.Remaining)
	h.writeResult(w, r, http.StatusOK, list)
}

// listObjects serves a list from the watch cache when it can be as fresh
// as asked, and from etcd for paged and exact-revision lists.
func (h *resourceHandler) listObjects(ctx context.Context, ns string, opts *metainternalversion.ListOptions) (*storage.ListResult, error) {
	rev, err := storage.ParseRevision(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	pred := predicateOf(opts)
	cache := h.store.Cache()
	exact := opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact
	if opts.Continue != "" && rev > 0 {
		return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	if opts.Continue != "" || exact || (opts.Limit > 0 && opts.ResourceVersion == "") {
		return h.store.ListPage(ctx, ns, storage.ListOptions{Predicate: pred, Limit: opts.Limit, Continue: opts.Continue, Revision: rev})
	}
	switch {
	case opts.ResourceVersion == "":
		if _, err := cache.WaitFresh(ctx); err != nil {
			return nil, apierrors.NewTimeoutError(err.Error(), 1)
		}
	case rev > 0:
		if err := cache.WaitForResourceVersion(ctx, rev); err != nil {
			return nil, err
		}
	}
	items, at, err := cache.List(h.store.StorageResource(), h.store.Prefix(ns), pred)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return &storage.ListResult{Items: items, Revision: at}, nil
}

// writeResult answers with an object or list in the representation the
// client negotiated: the object itself, a Table, or partial metadata.
func (h *resourceHandler) writeResult(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	opts, info, err := negotiateOutput(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	pretty := opts.Pretty || isTrue(r.URL.Query().Get("pretty"))
	if opts.Convert != nil {
		out, err := h.transform(r, obj, opts.Convert.Kind)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeWith(w, code, out, info, metav1.SchemeGroupVersion, pretty)
		return
	}
	writeWith(w, code, obj, info, h.res.GroupVersion, pretty)
}
