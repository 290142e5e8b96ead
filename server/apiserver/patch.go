package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/yaml"
)

func (h *resourceHandler) patch(w http.ResponseWriter, r *http.Request, info requestInfo, strategy rest.RESTUpdateStrategy, subresource string) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	pt := types.PatchType(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	force := isTrue(r.URL.Query().Get("force"))
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
		if force {
			writeError(w, r, apierrors.NewBadRequest("force may not be specified for non-apply patch"))
			return
		}
	case types.ApplyYAMLPatchType:
		if r.URL.Query().Get("fieldManager") == "" {
			writeError(w, r, apierrors.NewInvalid(h.res.GVK().GroupKind(), info.name, fieldRequired("fieldManager", "is required for apply patch")))
			return
		}
	default:
		writeError(w, r, negotiation.NewUnsupportedMediaTypeError([]string{string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType)}))
		return
	}
	apply := pt == types.ApplyYAMLPatchType
	created := false
	out, err := h.updateLoop(r, info, strategy, subresource, apply, func(current runtime.Object) (runtime.Object, error) {
		if apply {
			if current == nil {
				created = true
			}
			return h.applyPatch(r, info, current, body, force, subresource, strategy)
		}
		if current == nil {
			return nil, apierrors.NewNotFound(h.groupResource(), info.name)
		}
		return h.mergePatch(r, current, pt, body)
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

// mergePatch applies a JSON, merge or strategic-merge patch to the served
// version of current and returns the patched internal object.
func (h *resourceHandler) mergePatch(r *http.Request, current runtime.Object, pt types.PatchType, patch []byte) (runtime.Object, error) {
	patched, err := h.patchAs(current, h.res.GVK(), pt, patch)
	if err != nil {
		return nil, err
	}
	obj, err := h.decodeVersioned(r, patched, "application/json", h.res.GVK())
	if err != nil {
		return nil, err
	}
	internal, err := h.toInternal(obj)
	if err != nil {
		return nil, err
	}
	// The patch may not move the object; keep identity fields from current.
	m, cm := objectMeta(internal), objectMeta(current)
	if m.GetName() != cm.GetName() || m.GetNamespace() != cm.GetNamespace() {
		return nil, apierrors.NewBadRequest("metadata.name and metadata.namespace may not be changed by a patch")
	}
	return internal, nil
}

// applyPatch runs server-side apply of a YAML configuration over current
// (nil when creating).
func (h *resourceHandler) applyPatch(r *http.Request, info requestInfo, current runtime.Object, patch []byte, force bool, subresource string, strategy rest.RESTUpdateStrategy) (runtime.Object, error) {
	data, err := yaml.YAMLToJSONStrict(patch)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(data); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if gvk := applied.GroupVersionKind(); gvk != h.res.GVK() && subresource == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the apply configuration's apiVersion/kind (%s) does not match the resource (%s)", gvk, h.res.GVK()))
	}
	if applied.GetName() != info.name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), info.name))
	}
	if h.res.Namespaced && applied.GetNamespace() != "" && applied.GetNamespace() != info.namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	// Unknown fields are rejected or warned about like in any other write.
	if _, err := h.decodeVersioned(r, data, "application/json", h.res.GVK()); err != nil {
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
	live := current
	if live == nil {
		// An empty object of the served version, as upstream's patcher
		// creates: an internal one has zero values where the versioned
		// type has nil (spec.replicas), which the field manager would then
		// count as set by "before-first-apply" and report as a conflict.
		if live, err = scheme.New(h.res.GVK()); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		m := objectMeta(live)
		m.SetName(info.name)
		m.SetNamespace(info.namespace)
	}
	return fm.Apply(live, applied, manager, force)
}

// patchAs encodes obj as gvk in JSON and applies a non-apply patch to it.
func (h *resourceHandler) patchAs(obj runtime.Object, gvk schema.GroupVersionKind, pt types.PatchType, patch []byte) ([]byte, error) {
	original, err := runtime.Encode(jsonCodec(gvk.GroupVersion()), obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		patched, err := p.Apply(original)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", h.groupResource(), objectMeta(obj).GetName(), err.Error(), 0, false)
		}
		return patched, nil
	case types.MergePatchType:
		patched, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return patched, nil
	case types.StrategicMergePatchType:
		empty, err := scheme.New(gvk)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := strategicpatch.StrategicMergePatch(original, patch, empty)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return patched, nil
	}
	return nil, negotiation.NewUnsupportedMediaTypeError([]string{string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType)})
}

func jsonCodec(gv schema.GroupVersion) runtime.Encoder {
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	return codecs.EncoderForVersion(info.Serializer, gv)
}
