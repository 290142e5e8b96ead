package apiserver

import (
	"fmt"
	"log/slog"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
)

// statusFor turns any error into the metav1.Status kube-apiserver would send.
func statusFor(err error) *metav1.Status {
	if s, ok := err.(apierrors.APIStatus); ok {
		st := s.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		return &st
	}
	st := apierrors.NewInternalError(err).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// writeError answers with a Status in the negotiated format (JSON when the
// client's Accept cannot be met).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := statusFor(err)
	if st.Code >= 500 {
		slog.Warn("request failed", "component", "apiserver", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeObject(w, r, code, st, schema.GroupVersion{Version: "v1"})
}

// writeObject encodes obj (internal or versioned) as gv in the media type the
// client asked for.
func writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object, gv schema.GroupVersion) {
	_, info, err := negotiation.NegotiateOutputMediaType(r, codecs, negotiation.DefaultEndpointRestrictions)
	if err != nil {
		info, _ = runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	}
	writeWith(w, code, obj, info, gv, isTrue(r.URL.Query().Get("pretty")))
}

func writeWith(w http.ResponseWriter, code int, obj runtime.Object, info runtime.SerializerInfo, gv schema.GroupVersion, pretty bool) {
	s := info.Serializer
	if pretty && info.PrettySerializer != nil {
		s = info.PrettySerializer
	}
	data, err := runtime.Encode(codecs.EncoderForVersion(s, gv), obj)
	if err != nil {
		slog.Error("encoding response", "component", "apiserver", "err", err)
		http.Error(w, fmt.Sprintf("encoding response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
