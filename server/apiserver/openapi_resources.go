package apiserver

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kubernetes/pkg/api/legacyscheme"

	"kite/server/registry"
)

// The routes below mirror what k8s.io/apiserver's installer declares for a
// resource (operation names, docs, parameters, responses, extensions), so
// the documents have kube-apiserver's shape and operation IDs. Only what
// Kite serves is described: the deprecated /watch/ paths and the kubelet
// proxies (log, exec, ...) are left out.

const (
	openapiPrettyDoc    = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."
	openapiNamespaceDoc = "object name and auth scope, such as for teams and projects"
)

// openapiPatchTypes are the bodies PATCH accepts; kubectl reads them from
// the spec to pick a patch type.
var openapiPatchTypes = []string{
	string(types.JSONPatchType),
	string(types.MergePatchType),
	string(types.StrategicMergePatchType),
	string(types.ApplyYAMLPatchType),
}

// openapiMedia is what the server negotiates: the encodings of single
// responses and those of watch streams.
type openapiMedia struct{ types, stream []string }

func newOpenapiMedia() openapiMedia {
	t, s := negotiation.MediaTypesForSerializer(legacyscheme.Codecs)
	return openapiMedia{types: t, stream: s}
}

func (m openapiMedia) all() []string { return append(append([]string{}, m.types...), m.stream...) }

// openapiGVPath is the v3 document key ("api/v1", "apis/apps/v1") of a group version.
func openapiGVPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// openapiRouteContainers describes the served API, keyed by v3 document
// path: one container per group version plus the discovery roots.
func openapiRouteContainers(resources []*registry.Resource) (map[string]*openapiRouteContainer, error) {
	m := newOpenapiMedia()
	out := map[string]*openapiRouteContainer{}
	root := func(key, doc, op string, model interface{}, media []string) *openapiRouteContainer {
		c := &openapiRouteContainer{root: "/" + key}
		c.routes = append(c.routes, &openapiRoute{
			method: http.MethodGet, path: "/" + key + "/", operation: op, doc: doc,
			consumes: media, produces: media, writes: model,
			responses: []common.StatusCodeResponse{&openapiResponse{http.StatusOK, "OK", model}},
		})
		out[key] = c
		return c
	}
	root("api", "get available API versions", "getAPIVersions", metav1.APIVersions{}, m.types)
	root("apis", "get available API versions", "getAPIVersions", metav1.APIGroupList{}, m.types)
	root("version", "get the version information for this server", "getCodeVersion", version.Info{}, []string{"application/json"})
	for _, r := range resources {
		key := openapiGVPath(r.GroupVersion)
		c := out[key]
		if c == nil {
			c = root(key, "get available resources", "getAPIResources", metav1.APIResourceList{}, m.types)
		}
		if g := "apis/" + r.Group; r.Group != "" && out[g] == nil {
			root(g, "get information of a group", "getAPIGroup", metav1.APIGroup{}, m.types)
		}
		routes, err := openapiResourceRoutes(r, m)
		if err != nil {
			return nil, fmt.Errorf("describing %s for OpenAPI: %w", r.GVR(), err)
		}
		c.routes = append(c.routes, routes...)
	}
	return out, nil
}

// openapiTarget is a resource or one of its subresources: what its routes
// read and write.
type openapiTarget struct {
	res   *registry.Resource
	sub   string                  // "" for the resource itself
	gvk   schema.GroupVersionKind // of the objects read and written
	obj   interface{}             // a sample of that kind
	verbs map[string]bool
	media openapiMedia
}

// openapiAction is one verb at one path (relative to the group version).
type openapiAction struct {
	verb          string // list, post, deletecollection, get, put, patch, delete
	path          string
	params        []common.Parameter // path parameters
	allNamespaces bool
}

func openapiResourceRoutes(r *registry.Resource, m openapiMedia) ([]common.Route, error) {
	obj, err := legacyscheme.Scheme.New(r.GVK())
	if err != nil {
		return nil, err
	}
	t := &openapiTarget{res: r, gvk: r.GVK(), obj: obj, verbs: map[string]bool{}, media: m}
	for _, v := range r.AllVerbs() {
		t.verbs[v] = true
	}
	collection, scope := r.Resource, []common.Parameter(nil)
	if r.Namespaced {
		collection = "namespaces/{namespace}/" + r.Resource
		scope = []common.Parameter{&openapiParam{name: "namespace", desc: openapiNamespaceDoc, kind: common.PathParameterKind, dataType: "string", required: true}}
	}
	item := collection + "/{name}"
	var actions []openapiAction
	add := func(verb, when, path string, params []common.Parameter) {
		if t.verbs[when] {
			actions = append(actions, openapiAction{verb: verb, path: path, params: params})
		}
	}
	add("list", "list", collection, scope)
	add("post", "create", collection, scope)
	add("deletecollection", "deletecollection", collection, scope)
	itemParams := append(append([]common.Parameter{}, scope...), openapiNameParam(r.Kind))
	add("get", "get", item, itemParams)
	add("put", "update", item, itemParams)
	add("patch", "patch", item, itemParams)
	add("delete", "delete", item, itemParams)
	if r.Namespaced && t.verbs["list"] {
		actions = append(actions, openapiAction{verb: "list", path: r.Resource, allNamespaces: true})
	}
	routes := make([]common.Route, 0, len(actions)+4)
	for _, a := range actions {
		rt, err := t.route(a)
		if err != nil {
			return nil, err
		}
		routes = append(routes, rt)
	}

	for _, sk := range subresourcesOf(r) {
		if isKubeletSubresource(r.Resource, sk.name) {
			// Served by kubelets through the proxies: no object routes.
			continue
		}
		name := sk.name
		st := &openapiTarget{res: r, sub: name, gvk: r.GVK(), obj: obj, verbs: map[string]bool{}, media: m}
		if sk.gvk != r.GVK() {
			st.gvk = sk.gvk
			if st.obj, err = legacyscheme.Scheme.New(sk.gvk); err != nil {
				return nil, err
			}
		}
		// The name parameter is documented with the subresource's kind, as upstream does.
		params := append(append([]common.Parameter{}, scope...), openapiNameParam(st.gvk.Kind))
		for _, v := range sk.verbs {
			verb := map[string]string{"get": "get", "update": "put", "patch": "patch", "create": "post"}[v]
			rt, err := st.route(openapiAction{verb: verb, path: item + "/" + name, params: params})
			if err != nil {
				return nil, err
			}
			routes = append(routes, rt)
		}
	}
	return routes, nil
}

func openapiNameParam(kind string) common.Parameter {
	return &openapiParam{name: "name", desc: "name of the " + kind, kind: common.PathParameterKind, dataType: "string", required: true}
}

// route describes one action the way kube-apiserver's installer does.
func (t *openapiTarget) route(a openapiAction) (*openapiRoute, error) {
	r := t.res
	kind := r.Kind // docs and operation names use the parent's kind
	scope := ""
	if r.Namespaced && !a.allNamespaces {
		scope = "Namespaced"
	}
	suffix := ""
	if a.allNamespaces {
		suffix = "ForAllNamespaces"
	}
	rt := &openapiRoute{
		path:     "/" + openapiGVPath(r.GroupVersion) + "/" + a.path,
		consumes: []string{"*/*"},
		produces: t.media.types,
		metadata: map[string]interface{}{
			"x-kubernetes-action": a.verb,
			"x-kubernetes-group-version-kind": metav1.GroupVersionKind{
				Group: t.gvk.Group, Version: t.gvk.Version, Kind: t.gvk.Kind,
			},
		},
		params: []common.Parameter{&openapiParam{name: "pretty", desc: openapiPrettyDoc, kind: common.QueryParameterKind, dataType: "string"}},
	}
	rt.params = append(rt.params, a.params...)
	ok := func(code int, msg string, model interface{}) {
		rt.responses = append(rt.responses, &openapiResponse{code, msg, model})
		if rt.writes == nil {
			rt.writes = model
		}
	}
	body := func(sample interface{}, required bool) {
		rt.reads = sample
		rt.params = append(rt.params, &openapiParam{name: "body", kind: common.BodyParameterKind, required: required})
	}
	of := func(verbed, plain string) string {
		if t.sub == "" {
			return plain
		}
		return verbed
	}
	article := openapiArticle(kind)
	var prefix string
	var err error
	switch a.verb {
	case "get":
		rt.method, prefix = http.MethodGet, "read"
		rt.doc = of("read "+t.sub+" of the specified "+kind, "read the specified "+kind)
		ok(http.StatusOK, "OK", t.obj)
	case "list":
		list, lerr := legacyscheme.Scheme.New(r.GroupVersion.WithKind(r.Kind + "List"))
		if lerr != nil {
			return nil, lerr
		}
		rt.method, prefix = http.MethodGet, "list"
		rt.produces = t.media.all()
		rt.doc = "list objects of kind " + kind
		if t.verbs["watch"] {
			rt.doc = "list or watch objects of kind " + kind
		}
		ok(http.StatusOK, "OK", list)
		rt.params = append(rt.params, openapiOptionParams(metav1.ListOptions{})...)
	case "put":
		rt.method, prefix = http.MethodPut, "replace"
		rt.doc = of("replace "+t.sub+" of the specified "+kind, "replace the specified "+kind)
		ok(http.StatusOK, "OK", t.obj)
		ok(http.StatusCreated, "Created", t.obj)
		body(t.obj, true)
		rt.params = append(rt.params, openapiOptionParams(metav1.UpdateOptions{})...)
	case "patch":
		rt.method, prefix = http.MethodPatch, "patch"
		rt.doc = of("partially update "+t.sub+" of the specified "+kind, "partially update the specified "+kind)
		rt.consumes = openapiPatchTypes
		ok(http.StatusOK, "OK", t.obj)
		ok(http.StatusCreated, "Created", t.obj)
		body(metav1.Patch{}, true)
		rt.params = append(rt.params, openapiOptionParams(metav1.PatchOptions{})...)
	case "post":
		rt.method, prefix = http.MethodPost, "create"
		rt.doc = of("create "+t.sub+" of"+article+kind, "create"+article+kind)
		ok(http.StatusOK, "OK", t.obj)
		ok(http.StatusCreated, "Created", t.obj)
		ok(http.StatusAccepted, "Accepted", t.obj)
		body(t.obj, true)
		rt.params = append(rt.params, openapiOptionParams(metav1.CreateOptions{})...)
	case "delete":
		rt.method, prefix = http.MethodDelete, "delete"
		rt.doc = "delete" + article + kind
		var deleted interface{} = metav1.Status{}
		if r.ReturnDeletedObject {
			deleted = t.obj
		}
		ok(http.StatusOK, "OK", deleted)
		ok(http.StatusAccepted, "Accepted", deleted)
		body(metav1.DeleteOptions{}, false)
		rt.params = append(rt.params, openapiOptionParams(metav1.DeleteOptions{})...)
	case "deletecollection":
		rt.method, prefix = http.MethodDelete, "deletecollection"
		rt.doc = "delete collection of " + kind
		ok(http.StatusOK, "OK", metav1.Status{})
		body(metav1.DeleteOptions{}, false)
		rt.params = append(rt.params, openapiOptionParams(metav1.DeleteOptions{})...)
		// A collection delete is no watch.
		rt.params = append(rt.params, openapiOptionParams(metav1.ListOptions{}, "watch", "allowWatchBookmarks")...)
	default:
		err = fmt.Errorf("unknown action %q", a.verb)
	}
	rt.operation = prefix + scope + kind + openapiTitle(t.sub) + suffix
	return rt, err
}

// openapiOptionParams turns an options struct into query parameters as
// kube-apiserver's installer does: each top-level scalar (or list of
// scalars) field under its json name, documented by the type's SwaggerDoc.
func openapiOptionParams(opts interface{ SwaggerDoc() map[string]string }, exclude ...string) []common.Parameter {
	doc := opts.SwaggerDoc()
	st := reflect.TypeOf(opts)
	var out []common.Parameter
fields:
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		for _, e := range exclude {
			if e == name {
				continue fields
			}
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		var dataType string
		switch ft.Kind() {
		case reflect.Bool:
			dataType = "boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			dataType = "integer"
		case reflect.Float32, reflect.Float64:
			dataType = "number"
		case reflect.String:
			dataType = "string"
		default:
			continue // structs (TypeMeta, Preconditions) are no query parameters
		}
		out = append(out, &openapiParam{name: name, desc: doc[name], kind: common.QueryParameterKind, dataType: dataType})
	}
	return out
}

// openapiArticle is the padded article kube-apiserver's docs put before a
// kind: " a ", " an ", or " " for plurals like Endpoints.
func openapiArticle(noun string) string {
	if strings.HasSuffix(noun, "s") && !strings.HasSuffix(noun, "ss") {
		return " "
	}
	if strings.ContainsRune("aeiouAEIOU", rune(noun[0])) {
		return " an "
	}
	return " a "
}

func openapiTitle(s string) string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
