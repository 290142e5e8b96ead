package apiserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	apiopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kubernetes/pkg/api/legacyscheme"

	"kite/server/registry"
)

// OpenAPI serves /openapi/v2 and /openapi/v3 and gives server-side apply its
// type converter, all from openapi-gen's definitions of the built-in types
// and a description of the served resources.
//
// Nothing is built until first asked for: definitions, documents, their
// encodings and the type converter together cost a few seconds of CPU, and
// /readyz must not wait for them.
// Each artifact is built once; Stats reports what building cost.
type OpenAPI struct {
	resources []*registry.Resource

	setupOnce  sync.Once
	setupErr   error
	containers map[string]*openapiRouteContainer // by v3 key: "api/v1", "apis/apps/v1", ...
	namer      *apiopenapi.DefinitionNamer
	v2         http.Handler
	v3         *handler3.OpenAPIService

	// buildMu serializes the uses of v3Defs: the builders write extensions
	// into the definitions they are handed.
	buildMu sync.Mutex
	v3Defs  map[string]common.OpenAPIDefinition

	tcOnce sync.Once
	tc     managedfields.TypeConverter
	tcErr  error

	statsMu sync.Mutex
	stats   OpenAPIStats
}

// OpenAPIStats is what the lazily built artifacts cost so far; zero means
// not built yet.
type OpenAPIStats struct {
	V2            time.Duration // the Swagger 2.0 spec, definitions included
	V3Definitions time.Duration // the v3 definitions shared by documents and type converter
	V3            time.Duration // all /openapi/v3 documents built so far
	V3Documents   int
	TypeConverter time.Duration // includes the v3 definitions when built first
}

// NewOpenAPI describes resources; it builds nothing yet.
func NewOpenAPI(resources []*registry.Resource) *OpenAPI {
	return &OpenAPI{resources: resources}
}

// openapiLog is looked up on each use so that it follows slog.SetDefault.
func openapiLog() *slog.Logger { return slog.Default().With("component", "apiserver") }

// setup describes the routes and wires kube-openapi's handlers with lazy
// sources; this part is cheap.
func (o *OpenAPI) setup() error {
	o.setupOnce.Do(func() {
		o.containers, o.setupErr = openapiRouteContainers(o.resources)
		if o.setupErr != nil {
			return
		}
		o.namer = openapiNamer()
		v2 := handler.NewOpenAPIServiceLazy(cached.Once(cached.Func(o.buildV2)))
		var capture openapiCapture
		v2.RegisterOpenAPIVersionedService("/openapi/v2", &capture)
		o.v2 = capture.h
		o.v3 = handler3.NewOpenAPIService()
		for key := range o.containers {
			key := key
			o.v3.UpdateGroupVersionLazy(key, cached.Once(cached.Func(func() (*spec3.OpenAPI, string, error) {
				doc, err := o.buildV3(key)
				return doc, key, err
			})))
		}
	})
	return o.setupErr
}

// openapiCapture takes the handler kube-openapi registers, so that the
// server's own router decides which paths reach it.
type openapiCapture struct{ h http.Handler }

func (c *openapiCapture) Handle(_ string, h http.Handler) { c.h = h }

// ServeV2 serves /openapi/v2 as JSON or protobuf, with ETag revalidation.
func (o *OpenAPI) ServeV2(w http.ResponseWriter, r *http.Request) {
	if err := o.setup(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	o.v2.ServeHTTP(w, r)
}

// ServeV3 serves /openapi/v3 (the index of documents with their content
// hashes) and /openapi/v3/<api/v1|apis/<group>/<version>> (one document,
// JSON or protobuf; immutable when asked by current hash, redirected to
// the current hash otherwise).
func (o *OpenAPI) ServeV3(w http.ResponseWriter, r *http.Request) {
	if err := o.setup(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	key := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	if key == "" {
		o.v3.HandleDiscovery(w, r)
		return
	}
	if o.containers[key] == nil {
		http.NotFound(w, r)
		return
	}
	// handler3 takes the document key from the path; normalize it.
	if p := "/openapi/v3/" + key; r.URL.Path != p {
		r = r.Clone(r.Context())
		r.URL.Path = p
	}
	o.v3.HandleGroupVersion(w, r)
}

// TypeConverter converts the served kinds (and subresource kinds such as
// autoscaling/v1 Scale) to structured-merge-diff typed values for
// server-side apply and managedFields. Built on first call, then cached.
func (o *OpenAPI) TypeConverter() (managedfields.TypeConverter, error) {
	o.tcOnce.Do(func() {
		if o.tcErr = o.setup(); o.tcErr != nil {
			return
		}
		start := time.Now()
		names, err := openapiModelNames(o.resources)
		if err != nil {
			o.tcErr = err
			return
		}
		o.buildMu.Lock()
		defer o.buildMu.Unlock()
		schemas, err := builder3.BuildOpenAPIDefinitionsForResources(o.v3ConfigLocked(), names...)
		if err != nil {
			o.tcErr = fmt.Errorf("building OpenAPI models: %w", err)
			return
		}
		if o.tc, err = managedfields.NewTypeConverter(schemas, false); err != nil {
			o.tcErr = fmt.Errorf("building type converter: %w", err)
			return
		}
		// The definitions are megabytes and only needed again if a client
		// asks for the OpenAPI documents; they are rebuilt then.
		o.v3Defs = nil
		d := time.Since(start)
		o.record(func(s *OpenAPIStats) { s.TypeConverter = d })
		openapiLog().Info("built type converter", "duration", d, "models", len(schemas))
	})
	return o.tc, o.tcErr
}

// Warm builds everything ahead of the first client; run it in the
// background once the server is ready. The type converter goes first:
// server-side apply waits on it.
func (o *OpenAPI) Warm() {
	if _, err := o.TypeConverter(); err != nil {
		openapiLog().Error("building type converter", "err", err)
		return
	}
	// The index hashes, hence builds and encodes, every v3 document.
	get := func(h http.HandlerFunc, path string) {
		r, _ := http.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Accept", "application/json")
		h(&openapiDiscard{header: http.Header{}}, r)
	}
	get(o.ServeV3, "/openapi/v3")
	get(o.ServeV2, "/openapi/v2")
}

// openapiDiscard is a ResponseWriter that drops the response.
type openapiDiscard struct{ header http.Header }

func (d *openapiDiscard) Header() http.Header         { return d.header }
func (d *openapiDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (d *openapiDiscard) WriteHeader(int)             {}

// Stats reports the build costs so far.
func (o *OpenAPI) Stats() OpenAPIStats {
	o.statsMu.Lock()
	defer o.statsMu.Unlock()
	return o.stats
}

func (o *OpenAPI) record(f func(*OpenAPIStats)) {
	o.statsMu.Lock()
	f(&o.stats)
	o.statsMu.Unlock()
}

// buildV2 builds the Swagger 2.0 spec of all routes. It has its own
// definitions (v2 references, #/definitions/...), used only here.
func (o *OpenAPI) buildV2() (*spec.Swagger, string, error) {
	start := time.Now()
	containers := make([]common.RouteContainer, 0, len(o.containers))
	for _, c := range o.containers {
		containers = append(containers, c)
	}
	sw, err := builder.BuildOpenAPISpecFromRoutes(containers, openapiV2Config(o.namer))
	if err != nil {
		return nil, "", fmt.Errorf("building OpenAPI v2: %w", err)
	}
	// kube-apiserver serves v2 without defaults, which v2 clients misread.
	sw.Definitions = handler.PruneDefaults(sw.Definitions)
	d := time.Since(start)
	o.record(func(s *OpenAPIStats) { s.V2 = d })
	openapiLog().Info("built OpenAPI v2", "duration", d, "paths", len(sw.Paths.Paths), "definitions", len(sw.Definitions))
	return sw, "v2", nil
}

// buildV3 builds the document of one key with the schemas its routes
// reference.
func (o *OpenAPI) buildV3(key string) (*spec3.OpenAPI, error) {
	o.buildMu.Lock()
	defer o.buildMu.Unlock()
	cfg := o.v3ConfigLocked() // before the clock: the shared definitions are timed apart
	start := time.Now()
	doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{o.containers[key]}, cfg)
	if err != nil {
		return nil, fmt.Errorf("building OpenAPI v3 %s: %w", key, err)
	}
	openapiDetachExtensions(doc)
	if gv, ok := openapiGroupVersionOf(key); ok {
		openapiNarrowGVKs(doc, gv)
	}
	d := time.Since(start)
	o.record(func(s *OpenAPIStats) { s.V3 += d; s.V3Documents++ })
	openapiLog().Debug("built OpenAPI v3 document", "path", key, "duration", d, "schemas", len(doc.Components.Schemas))
	return doc, nil
}

// v3ConfigLocked returns the v3 builder configuration, building the shared
// definitions on first use. Callers hold buildMu.
func (o *OpenAPI) v3ConfigLocked() *common.OpenAPIV3Config {
	if o.v3Defs == nil {
		start := time.Now()
		o.v3Defs = openapiV3Definitions(o.namer)
		d := time.Since(start)
		o.record(func(s *OpenAPIStats) { s.V3Definitions = d })
		openapiLog().Info("built OpenAPI v3 definitions", "duration", d, "definitions", len(o.v3Defs))
	}
	return openapiV3Config(o.namer, o.v3Defs)
}

// openapiModelNames names the definitions of every kind the resources
// read and write (subresource kinds included): the models server-side
// apply needs.
func openapiModelNames(resources []*registry.Resource) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, r := range resources {
		kinds := []schema.GroupVersionKind{r.GVK()}
		for _, sub := range subresourcesOf(r) {
			if sub.gvk != r.GVK() {
				kinds = append(kinds, sub.gvk)
			}
		}
		for _, k := range kinds {
			obj, err := legacyscheme.Scheme.New(k)
			if err != nil {
				return nil, err
			}
			if name := util.GetCanonicalTypeName(obj); !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	return names, nil
}
