package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubernetes/pkg/apis/apps"
	"k8s.io/kubernetes/pkg/apis/autoscaling"
	"k8s.io/kubernetes/pkg/registry/core/namespace"

	"kite/server/storage"
)

var scaleGVK = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}

func (h *resourceHandler) serveSubresource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if !h.res.HasSubresource(info.subresource) {
		writeError(w, r, apierrors.NewNotFound(h.groupResource(), info.name))
		return
	}
	switch info.subresource + "/" + info.verb {
	case "status/get":
		h.get(w, r, info)
	case "status/update":
		h.update(w, r, info, h.res.Status, "status")
	case "status/patch":
		h.patch(w, r, info, h.res.Status, "status")
	case "finalize/update":
		h.update(w, r, info, namespace.FinalizeStrategy, "finalize")
	case "scale/get", "scale/update", "scale/patch":
		h.serveScale(w, r, info)
	case "binding/create":
		h.bind(w, r, info)
	case "eviction/create":
		h.evict(w, r, info)
	case "token/create":
		h.requestToken(w, r, info)
	case "log/get":
		h.serveLog(w, r, info)
	case "exec/get", "exec/create", "attach/get", "attach/create", "portforward/get", "portforward/create":
		h.serveStream(w, r, info)
	default:
		writeError(w, r, apierrors.NewMethodNotSupported(h.groupResource().WithVersion("").GroupResource(), info.verb))
	}
}

// replicasOf gives access to spec.replicas, status.replicas and the
// selector of the kinds with a scale subresource.
func replicasOf(obj runtime.Object) (spec *int32, status int32, selector *metav1.LabelSelector, ok bool) {
	switch o := obj.(type) {
	case *apps.Deployment:
		return &o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector, true
	case *apps.ReplicaSet:
		return &o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector, true
	case *apps.StatefulSet:
		return &o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector, true
	}
	return nil, 0, nil, false
}

func scaleFor(obj runtime.Object) (*autoscaling.Scale, error) {
	spec, status, selector, ok := replicasOf(obj)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("%T has no scale subresource", obj))
	}
	m := objectMeta(obj)
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return &autoscaling.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
		Spec:       autoscaling.ScaleSpec{Replicas: *spec},
		Status:     autoscaling.ScaleStatus{Replicas: status, Selector: sel.String()},
	}, nil
}

// serveScale reads and changes spec.replicas through autoscaling/v1 Scale.
func (h *resourceHandler) serveScale(w http.ResponseWriter, r *http.Request, info requestInfo) {
	writeScale := func(code int, obj runtime.Object) {
		sc, err := scaleFor(obj)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeObject(w, r, code, sc, scaleGVK.GroupVersion())
	}
	if info.verb == "get" {
		obj, err := h.store.Get(r.Context(), info.namespace, info.name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeScale(http.StatusOK, obj)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	pt := types.PatchType(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	out, err := h.updateLoop(r, info, h.res.Strategy, "", false, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(h.groupResource(), info.name)
		}
		sc, err := scaleFor(current)
		if err != nil {
			return nil, err
		}
		data := body
		if info.verb == "patch" {
			if data, err = h.patchAs(sc, scaleGVK, pt, body); err != nil {
				return nil, err
			}
		}
		versioned, err := h.decodeVersioned(r, data, "application/json", scaleGVK)
		if info.verb == "update" {
			versioned, err = h.decodeVersioned(r, data, "", scaleGVK)
		}
		if err != nil {
			return nil, err
		}
		want := &autoscaling.Scale{}
		if err := scheme.Convert(versioned, want, nil); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if want.ResourceVersion != "" && want.ResourceVersion != sc.ResourceVersion {
			return nil, apierrors.NewConflict(h.groupResource(), info.name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), info.name, fieldInvalid("spec.replicas", want.Spec.Replicas, "must be greater than or equal to 0"))
		}
		next := current.DeepCopyObject()
		spec, _, _, _ := replicasOf(next)
		*spec = want.Spec.Replicas
		return next, nil
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeScale(http.StatusOK, out)
}

func setListItems(list runtime.Object, items []runtime.Object) error {
	plain := make([]runtime.Object, len(items))
	for i, item := range items {
		plain[i] = storage.Unwrap(item)
	}
	if err := meta.SetList(list, plain); err != nil {
		return apierrors.NewInternalError(err)
	}
	return nil
}
