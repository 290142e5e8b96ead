package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/warning"

	"kite/server/auth"
	"kite/server/registry"
	"kite/server/storage"
)

// Config is what the API server needs from the rest of the server.
type Config struct {
	Client    *clientv3.Client
	Cache     *storage.Cache
	Resources []*registry.Resource
	// AdvertiseHostPort is how clients reach this server (host:port).
	AdvertiseHostPort string
	// Authenticate identifies the caller; ok false means anonymous.
	Authenticate func(*http.Request) (user.Info, bool)
	ServiceCIDR  *net.IPNet
	// TokenIssuer signs service-account tokens for TokenRequests and
	// authenticates bearer tokens; nil does neither.
	TokenIssuer *auth.ServiceAccountTokens
	// Join admits nodes at /cacerts and /v1-kite/node; nil serves neither.
	Join *auth.NodeJoiner
	// NodePortBase and NodePortSize describe the NodePort range.
	NodePortBase, NodePortSize int
	Version                    version.Info
	// EventTTLSeconds is how long Events live (kube-apiserver: 1h).
	EventTTLSeconds int64
	// Kubelet is how pods/log, exec, attach, portforward and nodes/proxy
	// reach kubelets.
	Kubelet KubeletClientConfig
	// SkipSAAdmission leaves new pods' service accounts alone: for test
	// servers without the service-account controller, as upstream's API
	// server integration tests turn the ServiceAccount plugin off.
	SkipSAAdmission bool
}

// Server is the HTTP handler of the Kubernetes API.
type Server struct {
	cfg       Config
	discovery *discoveryDocs
	openapi   *OpenAPI
	handlers  map[schema.GroupVersion]map[string]*resourceHandler
	byGR      map[schema.GroupResource]*resourceHandler
	allocator *serviceAllocator
	kubelets  *kubeletConnector
	// deletedNamespaces holds when namespaces were last deleted through
	// this server; creates in them check etcd rather than the watch cache
	// for a while (upstream's NamespaceLifecycle force-live-lookup cache).
	deletedNamespaces sync.Map

	readyMu sync.RWMutex
	ready   bool
}

// New builds the API server over the given storage.
func New(cfg Config) (*Server, error) {
	s := &Server{
		cfg:       cfg,
		discovery: newDiscovery(cfg.Resources),
		openapi:   NewOpenAPI(cfg.Resources),
		handlers:  map[schema.GroupVersion]map[string]*resourceHandler{},
		byGR:      map[schema.GroupResource]*resourceHandler{},
	}
	for _, r := range cfg.Resources {
		h := newResourceHandler(s, r)
		if s.handlers[r.GroupVersion] == nil {
			s.handlers[r.GroupVersion] = map[string]*resourceHandler{}
		}
		s.handlers[r.GroupVersion][r.Resource] = h
		s.byGR[r.GroupVersion.WithResource(r.Resource).GroupResource()] = h
	}
	s.kubelets = &kubeletConnector{s: s}
	s.allocator = newServiceAllocator(cfg.Client, cfg.ServiceCIDR, cfg.NodePortBase, cfg.NodePortSize)
	return s, nil
}

// Prepare builds, beside startup, what the first writes would otherwise
// wait for: every write tracks managed fields with the type converter.
func (s *Server) Prepare() error {
	_, err := s.openapi.TypeConverter()
	return err
}

// SetReady marks the server ready for /readyz once bootstrap is done.
func (s *Server) SetReady() {
	s.readyMu.Lock()
	s.ready = true
	s.readyMu.Unlock()
}

func (s *Server) isReady() bool {
	s.readyMu.RLock()
	defer s.readyMu.RUnlock()
	return s.ready
}

// ServeHTTP routes a request: health and version need no credentials,
// everything else does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			slog.Error("panic serving request", "component", "apiserver", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeError(w, r, fmt.Errorf("panic: %v", v))
		}
	}()
	path := r.URL.Path
	switch {
	case path == "/healthz" || path == "/livez" || strings.HasPrefix(path, "/healthz/") || strings.HasPrefix(path, "/livez/"):
		writeHealth(w, r, true)
		return
	case path == "/readyz" || strings.HasPrefix(path, "/readyz/"):
		writeHealth(w, r, s.isReady())
		return
	case path == "/version" || path == "/version/":
		writeJSON(w, http.StatusOK, s.cfg.Version)
		return
	case isJoinPath(path):
		s.serveJoin(w, r)
		return
	}
	u, ok := s.authenticate(r)
	if !ok {
		writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	ctx := genericapirequest.WithUser(r.Context(), u)
	rec := &warningRecorder{w: w}
	ctx = warning.WithWarningRecorder(ctx, rec)
	r = r.WithContext(ctx)
	switch {
	case path == "/api" || path == "/api/":
		s.serveAPI(w, r)
	case path == "/apis" || path == "/apis/":
		s.serveAPIs(w, r)
	case strings.HasPrefix(path, "/debug/pprof"):
		// Profiling for administrators, as kube-apiserver's --profiling.
		if !authorized(u, requestInfo{}) {
			writeError(w, r, apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("User %q cannot get path %q", u.GetName(), path)))
			return
		}
		servePprof(w, r)
	case path == oidcConfigPath || path == oidcKeysPath:
		s.serveServiceAccountIssuer(w, r)
	case path == "/openapi/v2":
		s.openapi.ServeV2(w, r)
	case path == "/openapi/v3" || strings.HasPrefix(path, "/openapi/v3/"):
		s.openapi.ServeV3(w, r)
	default:
		if s.serveDiscoveryPath(w, r) {
			return
		}
		if node, rest, ok := nodeProxyPath(path); ok {
			s.serveNodeProxy(w, r, u, node, rest)
			return
		}
		info, ok := parseResourcePath(r)
		if !ok {
			writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
			return
		}
		if ok, reason := s.authorize(r, u, info); !ok {
			writeError(w, r, forbidden(u, info, reason))
			return
		}
		h := s.handlers[info.gv][info.resource]
		if h == nil {
			writeError(w, r, apierrors.NewNotFound(info.gv.WithResource(info.resource).GroupResource(), ""))
			return
		}
		h.serve(w, r, info)
	}
}

// authorized admits cluster administrators. RBAC and the node authorizer
// come with the identities that need them (nodes, service accounts).
func authorized(u user.Info, _ requestInfo) bool {
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup {
			return true
		}
	}
	return false
}

// warningRecorder turns warnings raised while handling a request (by
// strategies or field validation) into Warning headers.
type warningRecorder struct {
	mu   sync.Mutex
	w    http.ResponseWriter
	seen map[string]bool
}

func (rec *warningRecorder) AddWarning(agent, text string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.seen == nil {
		rec.seen = map[string]bool{}
	}
	if rec.seen[text] {
		return
	}
	rec.seen[text] = true
	rec.w.Header().Add("Warning", fmt.Sprintf("299 - %q", text))
}

// requestContext adds what upstream strategies expect to find in the
// context: the namespace and the request info.
func requestContext(ctx context.Context, info requestInfo) context.Context {
	ctx = genericapirequest.WithNamespace(ctx, info.namespace)
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, Verb: info.verb, APIGroup: info.gv.Group, APIVersion: info.gv.Version,
		Namespace: info.namespace, Resource: info.resource, Subresource: info.subresource, Name: info.name,
	})
}
