package apiserver

import "k8s.io/kube-openapi/pkg/common"

// The OpenAPI documents are built by kube-openapi's builders, which read the
// API as route descriptions (common.RouteContainer). kube-apiserver hands
// them its go-restful web services; we have no go-restful routing, so these
// plain types describe each operation instead.

// openapiRouteContainer is the routes under one root path, such as /api/v1
// or /apis/apps/v1: one /openapi/v3 document.
type openapiRouteContainer struct {
	root   string
	routes []common.Route
}

func (c *openapiRouteContainer) RootPath() string                   { return c.root }
func (c *openapiRouteContainer) PathParameters() []common.Parameter { return nil }
func (c *openapiRouteContainer) Routes() []common.Route             { return c.routes }

// openapiRoute is one operation: a method on a path.
type openapiRoute struct {
	method    string
	path      string
	operation string // kube-apiserver's route operation name, e.g. "readNamespacedDeployment"
	doc       string
	params    []common.Parameter
	consumes  []string
	produces  []string
	metadata  map[string]interface{} // x-kubernetes-* operation extensions
	reads     interface{}            // request body sample, typed
	writes    interface{}            // response body sample, typed
	responses []common.StatusCodeResponse
}

func (r *openapiRoute) Method() string                                   { return r.method }
func (r *openapiRoute) Path() string                                     { return r.path }
func (r *openapiRoute) OperationName() string                            { return r.operation }
func (r *openapiRoute) Parameters() []common.Parameter                   { return r.params }
func (r *openapiRoute) Description() string                              { return r.doc }
func (r *openapiRoute) Consumes() []string                               { return r.consumes }
func (r *openapiRoute) Produces() []string                               { return r.produces }
func (r *openapiRoute) Metadata() map[string]interface{}                 { return r.metadata }
func (r *openapiRoute) RequestPayloadSample() interface{}                { return r.reads }
func (r *openapiRoute) ResponsePayloadSample() interface{}               { return r.writes }
func (r *openapiRoute) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// openapiParam is a path, query or body parameter. dataType is a JSON
// type name ("string", "integer", "boolean"); bodies take their schema
// from the route's request sample instead.
type openapiParam struct {
	name     string
	desc     string
	kind     common.ParameterKind
	dataType string
	required bool
}

func (p *openapiParam) Name() string               { return p.name }
func (p *openapiParam) Description() string        { return p.desc }
func (p *openapiParam) Required() bool             { return p.required }
func (p *openapiParam) Kind() common.ParameterKind { return p.kind }
func (p *openapiParam) DataType() string           { return p.dataType }
func (p *openapiParam) AllowMultiple() bool        { return false }

// openapiResponse is one documented status code and its body.
type openapiResponse struct {
	code  int
	msg   string
	model interface{}
}

func (r *openapiResponse) Code() int          { return r.code }
func (r *openapiResponse) Message() string    { return r.msg }
func (r *openapiResponse) Model() interface{} { return r.model }
