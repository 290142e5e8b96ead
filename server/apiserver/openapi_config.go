package apiserver

import (
	"net/http"
	"strings"

	restful "github.com/emicklei/go-restful/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	openapiutil "k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	generatedopenapi "k8s.io/kubernetes/pkg/generated/openapi"
)

// The builder configuration is kube-apiserver's: the same generated
// definitions, the same definition names (io.k8s.api.core.v1.Pod) with
// x-kubernetes-group-version-kind from the scheme, the same operation IDs,
// security scheme and common responses.

// openapiDefinitions are openapi-gen's definitions of every built-in type,
// without what disabled features add, as kube-apiserver wires them.
var openapiDefinitions = openapiutil.GetOpenAPIDefinitionsWithoutDisabledFeatures(generatedopenapi.GetOpenAPIDefinitions)

const openapiBearerToken = "BearerToken"

func openapiInfo() *spec.Info {
	return &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}}
}

// openapiOperationID names operations and tags them by group version
// (readAppsV1NamespacedDeployment, apps_v1). The upstream function only
// reads a route's operation name and path, so a bare go-restful Route
// carries ours to it.
func openapiOperationID(r common.Route) (string, []string, error) {
	return apiopenapi.GetOperationIDAndTags(&restful.Route{Operation: r.OperationName(), Path: r.Path()})
}

func openapiNamer() *apiopenapi.DefinitionNamer {
	return apiopenapi.NewDefinitionNamer(legacyscheme.Scheme)
}

func openapiV2Config(namer *apiopenapi.DefinitionNamer) *common.Config {
	return &common.Config{
		ProtocolList:   []string{"https"},
		IgnorePrefixes: []string{},
		Info:           openapiInfo(),
		DefaultResponse: &spec.Response{ResponseProps: spec.ResponseProps{
			Description: "Default Response.",
		}},
		CommonResponses: map[int]spec.Response{
			http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}},
		},
		GetOperationIDAndTagsFromRoute: openapiOperationID,
		GetDefinitionName:              namer.GetDefinitionName,
		GetDefinitions:                 openapiDefinitions,
		SecurityDefinitions: &spec.SecurityDefinitions{openapiBearerToken: &spec.SecurityScheme{
			SecuritySchemeProps: spec.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
			},
		}},
		DefaultSecurity: []map[string][]string{{openapiBearerToken: {}}},
	}
}

// openapiV3Config takes definitions already built with v3 references
// (#/components/schemas/...), shared by every document and the type
// converter because building them is the expensive part.
func openapiV3Config(namer *apiopenapi.DefinitionNamer, defs map[string]common.OpenAPIDefinition) *common.OpenAPIV3Config {
	return &common.OpenAPIV3Config{
		IgnorePrefixes: []string{},
		Info:           openapiInfo(),
		DefaultResponse: &spec3.Response{ResponseProps: spec3.ResponseProps{
			Description: "Default Response.",
		}},
		CommonResponses: map[int]*spec3.Response{
			http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}},
		},
		GetOperationIDAndTagsFromRoute: openapiOperationID,
		GetDefinitionName:              namer.GetDefinitionName,
		Definitions:                    defs,
		SecuritySchemes: spec3.SecuritySchemes{openapiBearerToken: &spec3.SecurityScheme{
			SecuritySchemeProps: spec3.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
			},
		}},
		DefaultSecurity: []map[string][]string{{openapiBearerToken: {}}},
	}
}

// openapiV3Definitions builds the definitions with v3 references.
func openapiV3Definitions(namer *apiopenapi.DefinitionNamer) map[string]common.OpenAPIDefinition {
	return openapiDefinitions(func(name string) spec.Ref {
		defName, _ := namer.GetDefinitionName(name)
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(defName))
	})
}

// openapiDetachExtensions gives each schema of a built document its own
// extensions map. The builders copy schemas shallowly and write the GVK
// extension into the definitions' own maps on every build; without this a
// later build would write into maps a served document is being encoded from.
func openapiDetachExtensions(doc *spec3.OpenAPI) {
	if doc == nil || doc.Components == nil {
		return
	}
	for _, s := range doc.Components.Schemas {
		if s == nil || s.Extensions == nil {
			continue
		}
		ext := make(spec.Extensions, len(s.Extensions))
		for k, v := range s.Extensions {
			ext[k] = v
		}
		s.Extensions = ext
	}
}

// openapiCrossRegistered are the meta kinds every group version registers;
// their GVK lists name every group.
var openapiCrossRegistered = []string{
	"io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
	"io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
}

// openapiNarrowGVKs keeps, on the cross-registered meta kinds of a group
// version's document, only the entries of that group version and core/v1,
// as kube-apiserver does for its per-group-version documents.
func openapiNarrowGVKs(doc *spec3.OpenAPI, gv schema.GroupVersion) {
	if doc == nil || doc.Components == nil {
		return
	}
	for _, name := range openapiCrossRegistered {
		s := doc.Components.Schemas[name]
		if s == nil {
			continue
		}
		gvks, ok := s.Extensions["x-kubernetes-group-version-kind"].([]interface{})
		if !ok {
			continue
		}
		var kept []interface{}
		for _, item := range gvks {
			m, _ := item.(map[string]interface{})
			g, _ := m["group"].(string)
			v, _ := m["version"].(string)
			if (g == gv.Group && v == gv.Version) || (g == "" && v == "v1") {
				kept = append(kept, item)
			}
		}
		if len(kept) > 0 {
			s.Extensions["x-kubernetes-group-version-kind"] = kept
		}
	}
}

// openapiGroupVersionOf parses a v3 document key ("api/v1",
// "apis/apps/v1"); ok is false for the discovery roots.
func openapiGroupVersionOf(key string) (schema.GroupVersion, bool) {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) == 2 && parts[0] == "api":
		return schema.GroupVersion{Version: parts[1]}, true
	case len(parts) == 3 && parts[0] == "apis":
		return schema.GroupVersion{Group: parts[1], Version: parts[2]}, true
	}
	return schema.GroupVersion{}, false
}
