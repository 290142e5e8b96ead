// Package apiserver is Kite's HTTP front: request parsing, authentication,
// discovery, the REST verbs, watch, patch, tables and OpenAPI over the
// resources declared in server/registry and stored by server/storage.
package apiserver

import (
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/kubernetes/pkg/api/legacyscheme"

	_ "kite/server/registry" // registers the API groups into legacyscheme
)

var (
	scheme = legacyscheme.Scheme
	codecs = legacyscheme.Codecs
	// strictCodecs decode with unknown and duplicate field detection, used
	// for fieldValidation=Strict and Warn.
	strictCodecs = serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	// parameterCodec decodes query parameters into option structs.
	parameterCodec = runtime.NewParameterCodec(scheme)
)

func init() {
	// The meta types (options, Status, Table, WatchEvent, discovery
	// documents) are served in every group version, as kube-apiserver
	// registers them.
	v1 := schema.GroupVersion{Version: "v1"}
	metav1.AddToGroupVersion(scheme, v1)
	scheme.AddUnversionedTypes(v1, &metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
	utilruntime.Must(metainternalversion.AddToScheme(scheme))
	utilruntime.Must(metav1.AddMetaToScheme(scheme))
}
