package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"kite/server/registry"
	"kite/server/storage"
)

// maxBodyBytes is kube-apiserver's limit on request bodies.
const maxBodyBytes = 3 * 1024 * 1024

// resourceHandler serves one resource at one group version.
type resourceHandler struct {
	s     *Server
	res   *registry.Resource
	store *storage.Store

	fmMu          sync.Mutex
	fieldManagers map[string]*managedfields.FieldManager // by subresource
}

func newResourceHandler(s *Server, r *registry.Resource) *resourceHandler {
	h := &resourceHandler{s: s, res: r, fieldManagers: map[string]*managedfields.FieldManager{}}
	if !r.Virtual {
		// Objects are decoded into the internal version of their storage
		// group: events.k8s.io/v1 Events are core Events in etcd.
		codec := storage.NewCodec(r.StorageVersion, r.StorageVersion.Group)
		var ttl int64
		if r.Kind == "Event" {
			ttl = s.cfg.EventTTLSeconds
		}
		s.cfg.Cache.Register(r.StorageResource, codec, storage.AttrFunc(r.Attrs))
		h.store = storage.NewStore(s.cfg.Client, s.cfg.Cache, codec, r.GVR().GroupResource(), r.StorageResource, ttl)
	}
	return h
}

func (h *resourceHandler) groupResource() schema.GroupResource { return h.res.GVR().GroupResource() }

func (h *resourceHandler) serve(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if h.res.Namespaced != (info.namespace != "") && !(h.res.Namespaced && info.name == "" && info.verb != "create" && info.verb != "deletecollection") {
		// Cluster-scoped resources have no namespace in their URL;
		// namespaced ones need it except to list/watch across namespaces.
		if !(h.res.Kind == "Namespace" && info.namespace == "") {
			writeError(w, r, apierrors.NewNotFound(h.groupResource(), info.name))
			return
		}
	}
	if info.name != "" {
		if msgs := content.IsPathSegmentName(info.name); len(msgs) > 0 {
			writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("name may not %s", strings.Join(msgs, ", "))))
			return
		}
	}
	if info.subresource != "" {
		h.serveSubresource(w, r, info)
		return
	}
	if h.res.Virtual {
		if info.verb != "create" {
			writeError(w, r, apierrors.NewMethodNotSupported(h.groupResource(), info.verb))
			return
		}
		h.serveReview(w, r, info)
		return
	}
	switch info.verb {
	case "get":
		h.get(w, r, info)
	case "list":
		h.list(w, r, info)
	case "watch":
		h.watch(w, r, info)
	case "create":
		h.create(w, r, info)
	case "update":
		h.update(w, r, info, h.res.Strategy, "")
	case "patch":
		h.patch(w, r, info, h.res.Strategy, "")
	case "delete":
		h.delete(w, r, info)
	case "deletecollection":
		h.deleteCollection(w, r, info)
	default:
		writeError(w, r, apierrors.NewMethodNotSupported(h.groupResource(), r.Method))
	}
}

// readBody reads a request body within kube-apiserver's size limit.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if len(data) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	return data, nil
}

// fieldValidation returns the request's field validation directive; Warn is
// the default as in kube-apiserver.
func fieldValidation(r *http.Request) (string, error) {
	v := r.URL.Query().Get("fieldValidation")
	switch v {
	case "":
		return metav1.FieldValidationWarn, nil
	case metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict:
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn or Strict, got %q", v))
}

// decodeVersioned decodes a request body as the resource's served kind,
// applying fieldValidation, and returns the versioned object.
func (h *resourceHandler) decodeVersioned(r *http.Request, body []byte, mediaType string, gvk schema.GroupVersionKind) (runtime.Object, error) {
	validation, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	factory := codecs
	if validation != metav1.FieldValidationIgnore {
		factory = strictCodecs
	}
	var info runtime.SerializerInfo
	if mediaType == "" {
		info, err = negotiation.NegotiateInputSerializer(r, false, factory)
	} else {
		info, err = negotiation.NegotiateInputSerializerForMediaType(mediaType, false, factory)
	}
	if err != nil {
		return nil, err
	}
	obj, got, err := info.Serializer.Decode(body, &gvk, nil)
	if err != nil && !runtime.IsStrictDecodingError(err) {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if err != nil {
		if validation == metav1.FieldValidationStrict {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		for _, e := range strictErrors(err) {
			addWarning(r, e)
		}
	}
	if got.GroupVersion() != gvk.GroupVersion() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
	}
	if got.Kind != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, gvk.Kind))
	}
	return obj, nil
}

func strictErrors(err error) []string {
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		var out []string
		for _, e := range se.Errors() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// readInternal reads the request body into a defaulted internal object.
func (h *resourceHandler) readInternal(r *http.Request) (runtime.Object, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	versioned, err := h.decodeVersioned(r, body, "", h.res.GVK())
	if err != nil {
		return nil, err
	}
	return h.toInternal(versioned)
}

// toInternal defaults a versioned object and converts it to the internal
// version the strategies work on.
func (h *resourceHandler) toInternal(versioned runtime.Object) (runtime.Object, error) {
	scheme.Default(versioned)
	out := h.res.New()
	if err := scheme.Convert(versioned, out, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return out, nil
}

// toVersioned converts an internal object to the served version.
func (h *resourceHandler) toVersioned(obj runtime.Object) (runtime.Object, error) {
	out, err := scheme.ConvertToVersion(obj, h.res.GroupVersion)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}

// fieldManager returns the managed-fields tracker of the resource or one of
// its subresources, built on first use.
func (h *resourceHandler) fieldManager(subresource string, strategy any) (*managedfields.FieldManager, error) {
	h.fmMu.Lock()
	defer h.fmMu.Unlock()
	if fm := h.fieldManagers[subresource]; fm != nil {
		return fm, nil
	}
	tc, err := h.s.openapi.TypeConverter()
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	switch st := strategy.(type) {
	case rest.ResetFieldsFilterStrategy:
		reset = st.GetResetFieldsFilter()
	case rest.ResetFieldsStrategy:
		reset = map[fieldpath.APIVersion]fieldpath.Filter{}
		for v, set := range st.GetResetFields() {
			reset[v] = fieldpath.NewExcludeSetFilter(set)
		}
	}
	hub := schema.GroupVersion{Group: h.res.Group, Version: runtime.APIVersionInternal}
	fm, err := managedfields.NewDefaultFieldManager(tc, scheme, scheme, scheme, h.res.GVK(), hub, subresource, reset)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	h.fieldManagers[subresource] = fm
	return fm, nil
}

// managerName is the field manager of a write: the fieldManager parameter
// or, as kube-apiserver does, the user agent's product name.
func managerName(r *http.Request) (string, error) {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		if len(m) > 128 {
			return "", apierrors.NewBadRequest("fieldManager must not be longer than 128 characters")
		}
		return m, nil
	}
	ua := r.UserAgent()
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua, nil
}

// dryRun reports whether the request asks for dryRun=All.
func dryRun(r *http.Request) (bool, error) {
	values := r.URL.Query()["dryRun"]
	for _, v := range values {
		if v != metav1.DryRunAll {
			return false, apierrors.NewBadRequest(fmt.Sprintf("unsupported dry run option %q, only %q is supported", v, metav1.DryRunAll))
		}
	}
	return len(values) > 0, nil
}

func objectMeta(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err) // every served kind has ObjectMeta
	}
	return m
}

func addWarning(r *http.Request, text string) { warning.AddWarning(r.Context(), "", text) }
