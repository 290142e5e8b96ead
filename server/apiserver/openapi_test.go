package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	"k8s.io/kubernetes/pkg/api/legacyscheme"

	"kite/server/registry"
)

// The builds are expensive; the tests share one OpenAPI and its caches.
var (
	openapiTestOnce sync.Once
	openapiTestObj  *OpenAPI
)

func openapiForTest(t *testing.T) *OpenAPI {
	t.Helper()
	openapiTestOnce.Do(func() { openapiTestObj = NewOpenAPI(registry.All()) })
	return openapiTestObj
}

func openapiGet(t *testing.T, h http.HandlerFunc, url, accept string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h(w, r)
	return w
}

func openapiV3Index(t *testing.T, o *OpenAPI) handler3.OpenAPIV3Discovery {
	t.Helper()
	w := openapiGet(t, o.ServeV3, "/openapi/v3", "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /openapi/v3: %d %s", w.Code, w.Body)
	}
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(w.Body.Bytes(), &index); err != nil {
		t.Fatal(err)
	}
	return index
}

func openapiV3Doc(t *testing.T, o *OpenAPI, key string) (*spec3.OpenAPI, []byte) {
	t.Helper()
	w := openapiGet(t, o.ServeV3, "/openapi/v3/"+key, "application/json")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /openapi/v3/%s: %d %s", key, w.Code, w.Body)
	}
	doc := &spec3.OpenAPI{}
	if err := json.Unmarshal(w.Body.Bytes(), doc); err != nil {
		t.Fatalf("parsing /openapi/v3/%s: %v", key, err)
	}
	return doc, w.Body.Bytes()
}

func TestOpenAPINewBuildsNothing(t *testing.T) {
	o := NewOpenAPI(registry.All())
	if s := o.Stats(); s != (OpenAPIStats{}) || o.containers != nil {
		t.Fatalf("NewOpenAPI built something: %+v", s)
	}
}

func TestOpenAPIV3IndexListsServedGroupVersions(t *testing.T) {
	index := openapiV3Index(t, openapiForTest(t))
	want := map[string]bool{"api": true, "apis": true, "version": true}
	for _, r := range registry.All() {
		want[openapiGVPath(r.GroupVersion)] = true
		if r.Group != "" {
			want["apis/"+r.Group] = true
		}
	}
	for key := range want {
		gv, ok := index.Paths[key]
		if !ok {
			t.Errorf("index lacks %q", key)
			continue
		}
		if !strings.HasPrefix(gv.ServerRelativeURL, "/openapi/v3/"+key+"?hash=") {
			t.Errorf("%s: serverRelativeURL %q", key, gv.ServerRelativeURL)
		}
	}
	if len(index.Paths) != len(want) {
		t.Errorf("index has %d paths, want %d", len(index.Paths), len(want))
	}
}

func TestOpenAPIV3Operations(t *testing.T) {
	o := openapiForTest(t)
	deployment := metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	tests := []struct {
		key, path, method string
		opID, action      string
		gvk               metav1.GroupVersionKind
		params            []string // query parameters on the operation itself
		bodyTypes         []string
	}{
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch", "patchAppsV1NamespacedDeployment", "patch", deployment,
			[]string{"dryRun", "fieldManager", "fieldValidation", "force"}, openapiPatchTypes},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "put", "replaceAppsV1NamespacedDeployment", "put", deployment,
			[]string{"dryRun", "fieldManager", "fieldValidation"}, []string{"*/*"}},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "delete", "deleteAppsV1NamespacedDeployment", "delete", deployment,
			[]string{"dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy"}, []string{"*/*"}},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments", "get", "listAppsV1NamespacedDeployment", "list", deployment,
			[]string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"}, nil},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments", "post", "createAppsV1NamespacedDeployment", "post", deployment,
			[]string{"dryRun", "fieldManager", "fieldValidation"}, []string{"*/*"}},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments", "delete", "deleteAppsV1CollectionNamespacedDeployment", "deletecollection", deployment,
			[]string{"continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "labelSelector", "limit", "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds"}, []string{"*/*"}},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "patch", "patchAppsV1NamespacedDeploymentScale", "patch",
			metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, []string{"fieldValidation"}, openapiPatchTypes},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status", "patch", "patchAppsV1NamespacedDeploymentStatus", "patch", deployment,
			[]string{"fieldValidation"}, openapiPatchTypes},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "patch", "patchCoreV1NamespacedPod", "patch", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			[]string{"fieldValidation"}, openapiPatchTypes},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post", "createCoreV1NamespacedPodEviction", "post",
			metav1.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, nil, []string{"*/*"}},
		{"api/v1", "/api/v1/namespaces/{name}/finalize", "put", "replaceCoreV1NamespaceFinalize", "put", metav1.GroupVersionKind{Version: "v1", Kind: "Namespace"}, nil, []string{"*/*"}},
		{"api/v1", "/api/v1/nodes/{name}", "patch", "patchCoreV1Node", "patch", metav1.GroupVersionKind{Version: "v1", Kind: "Node"}, []string{"fieldValidation"}, openapiPatchTypes},
		{"api/v1", "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, nil, nil},
		{"apis/events.k8s.io/v1", "/apis/events.k8s.io/v1/namespaces/{namespace}/events/{name}", "patch", "patchEventsV1NamespacedEvent", "patch",
			metav1.GroupVersionKind{Group: "events.k8s.io", Version: "v1", Kind: "Event"}, []string{"fieldValidation"}, openapiPatchTypes},
		{"apis/authorization.k8s.io/v1", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "post", "createAuthorizationV1SelfSubjectAccessReview", "post",
			metav1.GroupVersionKind{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectAccessReview"}, nil, []string{"*/*"}},
	}
	docs := map[string]*spec3.OpenAPI{}
	for _, tt := range tests {
		t.Run(tt.opID, func(t *testing.T) {
			doc := docs[tt.key]
			if doc == nil {
				doc, _ = openapiV3Doc(t, o, tt.key)
				docs[tt.key] = doc
			}
			item := doc.Paths.Paths[tt.path]
			if item == nil {
				t.Fatalf("no path %s", tt.path)
			}
			op := map[string]*spec3.Operation{"get": item.Get, "put": item.Put, "post": item.Post, "patch": item.Patch, "delete": item.Delete}[tt.method]
			if op == nil {
				t.Fatalf("no %s on %s", tt.method, tt.path)
			}
			if op.OperationId != tt.opID {
				t.Errorf("operationId %q, want %q", op.OperationId, tt.opID)
			}
			if a, _ := op.Extensions.GetString("x-kubernetes-action"); a != tt.action {
				t.Errorf("x-kubernetes-action %q, want %q", a, tt.action)
			}
			var gvk metav1.GroupVersionKind
			if err := op.Extensions.GetObject("x-kubernetes-group-version-kind", &gvk); err != nil || gvk != tt.gvk {
				t.Errorf("x-kubernetes-group-version-kind %v (%v), want %v", gvk, err, tt.gvk)
			}
			// Parameters an operation shares with every other operation of
			// its path sit on the path; kubectl's verifier reads only the
			// operation's own, which is where fieldValidation must be.
			have := map[string]bool{}
			for _, p := range op.Parameters {
				if p.In == "query" {
					have[p.Name] = true
				}
			}
			for _, p := range tt.params {
				if !have[p] {
					t.Errorf("no query parameter %q (have %v)", p, have)
				}
			}
			var bodyTypes []string
			if op.RequestBody != nil {
				for ct := range op.RequestBody.Content {
					bodyTypes = append(bodyTypes, ct)
				}
			}
			if len(bodyTypes) != len(tt.bodyTypes) {
				t.Errorf("request body types %v, want %v", bodyTypes, tt.bodyTypes)
			}
		})
	}
}

func TestOpenAPIV3DocumentsAreSelfContained(t *testing.T) {
	o := openapiForTest(t)
	for key := range openapiV3Index(t, o).Paths {
		t.Run(key, func(t *testing.T) {
			doc, raw := openapiV3Doc(t, o, key)
			// Every reference resolves inside the document.
			var refs []string
			var walk func(v interface{})
			walk = func(v interface{}) {
				switch v := v.(type) {
				case map[string]interface{}:
					for k, e := range v {
						if s, ok := e.(string); ok && k == "$ref" {
							refs = append(refs, s)
						}
						walk(e)
					}
				case []interface{}:
					for _, e := range v {
						walk(e)
					}
				}
			}
			var generic interface{}
			if err := json.Unmarshal(raw, &generic); err != nil {
				t.Fatal(err)
			}
			walk(generic)
			for _, ref := range refs {
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				if doc.Components.Schemas[name] == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			// The protobuf form is the same document.
			w := openapiGet(t, o.ServeV3, "/openapi/v3/"+key, "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")
			var pb openapi_v3.Document
			if err := proto.Unmarshal(w.Body.Bytes(), &pb); err != nil || len(pb.GetPaths().GetPath()) != len(doc.Paths.Paths) {
				t.Errorf("protobuf: %v, %d paths, want %d", err, len(pb.GetPaths().GetPath()), len(doc.Paths.Paths))
			}
		})
	}
}

func TestOpenAPIV3Schemas(t *testing.T) {
	o := openapiForTest(t)
	tests := []struct {
		key, schema string
		gvk         []metav1.GroupVersionKind
	}{
		{"apis/apps/v1", "io.k8s.api.apps.v1.Deployment", []metav1.GroupVersionKind{{Group: "apps", Version: "v1", Kind: "Deployment"}}},
		{"apis/apps/v1", "io.k8s.api.autoscaling.v1.Scale", []metav1.GroupVersionKind{{Group: "autoscaling", Version: "v1", Kind: "Scale"}}},
		{"api/v1", "io.k8s.api.core.v1.Pod", []metav1.GroupVersionKind{{Version: "v1", Kind: "Pod"}}},
		// Meta kinds registered in every group keep only the document's
		// group version and core/v1.
		{"apis/apps/v1", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", []metav1.GroupVersionKind{
			{Version: "v1", Kind: "DeleteOptions"}, {Group: "apps", Version: "v1", Kind: "DeleteOptions"}}},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			doc, _ := openapiV3Doc(t, o, tt.key)
			s := doc.Components.Schemas[tt.schema]
			if s == nil {
				t.Fatalf("no schema %s", tt.schema)
			}
			var gvks []metav1.GroupVersionKind
			if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil {
				t.Fatal(err)
			}
			if len(gvks) != len(tt.gvk) {
				t.Fatalf("x-kubernetes-group-version-kind %v, want %v", gvks, tt.gvk)
			}
			for _, want := range tt.gvk {
				found := false
				for _, g := range gvks {
					found = found || g == want
				}
				if !found {
					t.Errorf("x-kubernetes-group-version-kind %v lacks %v", gvks, want)
				}
			}
		})
	}
}

// openapiTestServer serves the OpenAPI endpoints and just enough discovery
// for client-go's OpenAPI v3 client.
func openapiTestServer(t *testing.T) *rest.Config {
	o := openapiForTest(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/openapi/v2":
			o.ServeV2(w, r)
		case strings.HasPrefix(r.URL.Path, "/openapi/v3"):
			o.ServeV3(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func TestOpenAPIKubectlFieldValidationSupport(t *testing.T) {
	cfg := openapiTestServer(t)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	oapi := discovery.NewDiscoveryClientForConfigOrDie(cfg).OpenAPIV3()
	verifier := resource.NewQueryParamVerifierV3(dyn, oapi, resource.QueryParamFieldValidation)
	for _, r := range registry.All() {
		if !openapiHasVerb(r, "patch") {
			continue
		}
		if err := verifier.HasSupport(r.GVK()); err != nil {
			t.Errorf("%s: %v", r.GVK(), err)
		}
	}
}

func openapiHasVerb(r *registry.Resource, verb string) bool {
	for _, v := range r.AllVerbs() {
		if v == verb {
			return true
		}
	}
	return false
}

func TestOpenAPIKubectlExplain(t *testing.T) {
	oapi := discovery.NewDiscoveryClientForConfigOrDie(openapiTestServer(t)).OpenAPIV3()
	tests := []struct {
		gvr    schema.GroupVersionResource
		fields []string
		want   []string
	}{
		{corev1.SchemeGroupVersion.WithResource("pods"), []string{"spec", "containers"}, []string{"FIELD: containers <[]Container>", "image\t<string>"}},
		{appsv1.SchemeGroupVersion.WithResource("deployments"), []string{"spec", "strategy"}, []string{"FIELD: strategy <DeploymentStrategy>", "rollingUpdate"}},
	}
	for _, tt := range tests {
		t.Run(tt.gvr.Resource, func(t *testing.T) {
			var out bytes.Buffer
			if err := explainv2.PrintModelDescription(tt.fields, &out, oapi, tt.gvr, false, 0, "plaintext"); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("explain output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestOpenAPIV2(t *testing.T) {
	o := openapiForTest(t)
	w := openapiGet(t, o.ServeV2, "/openapi/v2", "application/json")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /openapi/v2: %d", w.Code)
	}
	var sw spec.Swagger
	if err := json.Unmarshal(w.Body.Bytes(), &sw); err != nil {
		t.Fatal(err)
	}
	patch := sw.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].Patch
	if patch == nil || len(patch.Consumes) != len(openapiPatchTypes) {
		t.Fatalf("deployment PATCH %+v", patch)
	}
	if sw.Definitions["io.k8s.api.apps.v1.Deployment"].Extensions["x-kubernetes-group-version-kind"] == nil {
		t.Error("Deployment definition lacks its GVK")
	}
	for _, r := range registry.All() {
		if openapiHasVerb(r, "create") {
			path := "/" + openapiGVPath(r.GroupVersion) + "/" + r.Resource
			if r.Namespaced {
				path = "/" + openapiGVPath(r.GroupVersion) + "/namespaces/{namespace}/" + r.Resource
			}
			if sw.Paths.Paths[path].Post == nil {
				t.Errorf("no POST %s", path)
			}
		}
	}

	for _, accept := range []string{"application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"} {
		w := openapiGet(t, o.ServeV2, "/openapi/v2", accept+", application/json")
		if ct := w.Header().Get("Content-Type"); !strings.Contains(ct, "protobuf") {
			t.Fatalf("Accept %s: Content-Type %q", accept, ct)
		}
		var doc openapi_v2.Document
		if err := proto.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if got := len(doc.GetPaths().GetPath()); got != len(sw.Paths.Paths) {
			t.Errorf("protobuf has %d paths, JSON %d", got, len(sw.Paths.Paths))
		}
	}
}

func TestOpenAPICaching(t *testing.T) {
	o := openapiForTest(t)
	index := openapiV3Index(t, o)
	current := index.Paths["apis/apps/v1"].ServerRelativeURL
	tests := []struct {
		name     string
		serve    http.HandlerFunc
		url      string
		header   []string
		wantCode int
		check    func(t *testing.T, w *httptest.ResponseRecorder)
	}{
		{name: "v2 etag", serve: o.ServeV2, url: "/openapi/v2", wantCode: http.StatusNotModified,
			header: []string{"If-None-Match", openapiGet(t, o.ServeV2, "/openapi/v2", "application/json").Header().Get("Etag")}},
		{name: "v3 etag", serve: o.ServeV3, url: "/openapi/v3/apis/apps/v1", wantCode: http.StatusNotModified,
			header: []string{"If-None-Match", openapiGet(t, o.ServeV3, "/openapi/v3/apis/apps/v1", "application/json").Header().Get("Etag")}},
		{name: "v3 index etag", serve: o.ServeV3, url: "/openapi/v3", wantCode: http.StatusNotModified,
			header: []string{"If-None-Match", openapiGet(t, o.ServeV3, "/openapi/v3", "").Header().Get("Etag")}},
		{name: "current hash", serve: o.ServeV3, url: current, wantCode: http.StatusOK,
			check: func(t *testing.T, w *httptest.ResponseRecorder) {
				if cc := w.Header().Get("Cache-Control"); cc != "public, immutable" {
					t.Errorf("Cache-Control %q", cc)
				}
			}},
		{name: "stale hash", serve: o.ServeV3, url: "/openapi/v3/apis/apps/v1?hash=0123", wantCode: http.StatusMovedPermanently,
			check: func(t *testing.T, w *httptest.ResponseRecorder) {
				if loc := w.Header().Get("Location"); loc != current {
					t.Errorf("Location %q, want %q", loc, current)
				}
			}},
		{name: "unknown group version", serve: o.ServeV3, url: "/openapi/v3/apis/nope/v1", wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := openapiGet(t, tt.serve, tt.url, "application/json", tt.header...)
			if w.Code != tt.wantCode {
				t.Fatalf("%d, want %d", w.Code, tt.wantCode)
			}
			if tt.check != nil {
				tt.check(t, w)
			}
		})
	}
}

func TestOpenAPITypeConverter(t *testing.T) {
	o := openapiForTest(t)
	tc, err := o.TypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	replicas := int32(3)
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}},
			},
		},
	}
	typed, err := tc.ObjectToTyped(d)
	if err != nil {
		t.Fatalf("Deployment: %v", err)
	}
	if _, err := typed.ToFieldSet(); err != nil {
		t.Fatal(err)
	}
	// Every served kind and subresource kind converts.
	for _, r := range registry.All() {
		kinds := []schema.GroupVersionKind{r.GVK()}
		for _, sub := range subresourcesOf(r) {
			kinds = append(kinds, sub.gvk)
		}
		for _, gvk := range kinds {
			obj, err := legacyscheme.Scheme.New(gvk)
			if err != nil {
				t.Fatal(err)
			}
			obj.GetObjectKind().SetGroupVersionKind(gvk)
			if _, err := tc.ObjectToTyped(obj); err != nil {
				t.Errorf("%s: %v", gvk, err)
			}
		}
	}
}

// TestOpenAPIBuildCost logs what the first use of each artifact costs on
// a fresh OpenAPI; it asserts nothing about time.
func TestOpenAPIBuildCost(t *testing.T) {
	o := NewOpenAPI(registry.All())
	timed := func(what string, f func()) {
		start := time.Now()
		f()
		t.Logf("first %s: %v", what, time.Since(start))
	}
	timed("TypeConverter()", func() {
		if _, err := o.TypeConverter(); err != nil {
			t.Fatal(err)
		}
	})
	timed("GET /openapi/v3 (builds, encodes and hashes every document)", func() { openapiV3Index(t, o) })
	timed("GET /openapi/v3/api/v1 protobuf", func() {
		openapiGet(t, o.ServeV3, "/openapi/v3/api/v1", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")
	})
	timed("GET /openapi/v2 JSON", func() { openapiGet(t, o.ServeV2, "/openapi/v2", "application/json") })
	timed("GET /openapi/v2 protobuf", func() {
		openapiGet(t, o.ServeV2, "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	})
	timed("Warm() once built", o.Warm)
	s := o.Stats()
	t.Logf("build stats: v2 %v; v3 definitions %v; %d v3 documents %v; type converter %v (definitions included)",
		s.V2, s.V3Definitions, s.V3Documents, s.V3, s.TypeConverter)
	if s.V2 == 0 || s.V3Definitions == 0 || s.V3Documents == 0 || s.TypeConverter == 0 {
		t.Errorf("stats not recorded: %+v", s)
	}
}

// TestOpenAPIConcurrentFirstUse asks for everything at once on a fresh
// OpenAPI; run with -race it checks the builders' shared definitions.
func TestOpenAPIConcurrentFirstUse(t *testing.T) {
	o := NewOpenAPI(registry.All())
	var wg sync.WaitGroup
	for _, key := range []string{"", "api/v1", "apis/apps/v1", "apis/batch/v1", "apis/events.k8s.io/v1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w := openapiGet(t, o.ServeV3, "/openapi/v3/"+key, "application/json"); w.Code != http.StatusOK {
				t.Errorf("%s: %d", key, w.Code)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := o.TypeConverter(); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		defer wg.Done()
		if w := openapiGet(t, o.ServeV2, "/openapi/v2", "application/json"); w.Code != http.StatusOK {
			t.Errorf("v2: %d", w.Code)
		}
	}()
	wg.Wait()
}
