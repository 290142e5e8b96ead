package ingress

import (
	"net"
	"sort"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// route is one path of a served Ingress, resolved to its backend. The
// defaultBackend of an Ingress becomes a route with an empty path.
type route struct {
	ingress types.NamespacedName
	// ingressName is ingress as the access log writes it.
	ingressName string
	created     time.Time
	// exact is true for pathType Exact; Prefix and ImplementationSpecific match by path elements.
	exact bool
	// path is normalised: Prefix paths lose their trailing slash ("/" stays "/").
	path    string
	backend *backend
	// sslRedirect sends plain HTTP requests to https (the Ingress asked for
	// it and has TLS for the host).
	sslRedirect bool
}

// matches reports whether the request path p is selected by the route.
func (r *route) matches(p string) bool {
	if r.exact {
		return p == r.path
	}
	if r.path == "/" {
		return true
	}
	if !strings.HasPrefix(p, r.path) {
		return false
	}
	rest := p[len(r.path):]
	return rest == "" || rest[0] == '/'
}

// normalisePath returns the form of an Ingress path that route.matches expects.
func normalisePath(p string, pathType networkingv1.PathType) (string, bool) {
	if p == "" {
		p = "/"
	}
	if pathType == networkingv1.PathTypeExact {
		return p, true
	}
	if trimmed := strings.TrimRight(p, "/"); trimmed != "" {
		return trimmed, false
	}
	return "/", false
}

// routeList is the routes of one host, in the order they are tried.
type routeList []*route

// sortRoutes orders by precedence: longer paths first, Exact before Prefix
// at equal length, then the older Ingress, then by name so the result is
// deterministic.
func sortRoutes(l routeList) {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if len(a.path) != len(b.path) {
			return len(a.path) > len(b.path)
		}
		if a.exact != b.exact {
			return a.exact
		}
		if !a.created.Equal(b.created) {
			return a.created.Before(b.created)
		}
		return a.ingress.String() < b.ingress.String()
	})
}

func (l routeList) match(p string) *route {
	for _, r := range l {
		if r.matches(p) {
			return r
		}
	}
	return nil
}

// routeTable is an immutable snapshot of everything the proxy serves. A new
// one is built on every change and swapped in atomically.
type routeTable struct {
	exactHosts map[string]routeList
	// wildcardHosts is keyed by the parent domain: "*.example.com" is stored as "example.com".
	wildcardHosts map[string]routeList
	// anyHost holds the rules that name no host.
	anyHost routeList
	// defaultRoute is the defaultBackend of the oldest Ingress that has one.
	defaultRoute *route
	certs        *certTable
	// served names every Ingress of the table, routed or not, so metrics
	// can drop the series of the others.
	served map[types.NamespacedName]bool
	// endpoints holds every endpoint address of the table's backends, so
	// connections to others can be closed.
	endpoints map[string]bool
}

func newRouteTable() *routeTable {
	return &routeTable{
		exactHosts:    map[string]routeList{},
		wildcardHosts: map[string]routeList{},
		certs:         newCertTable(),
		served:        map[types.NamespacedName]bool{},
		endpoints:     map[string]bool{},
	}
}

// add files a route under its host ("" for rules without a host).
func (t *routeTable) add(host string, r *route) {
	switch {
	case host == "":
		t.anyHost = append(t.anyHost, r)
	case strings.HasPrefix(host, "*."):
		t.wildcardHosts[host[2:]] = append(t.wildcardHosts[host[2:]], r)
	default:
		t.exactHosts[host] = append(t.exactHosts[host], r)
	}
}

func (t *routeTable) sort() {
	for _, l := range t.exactHosts {
		sortRoutes(l)
	}
	for _, l := range t.wildcardHosts {
		sortRoutes(l)
	}
	sortRoutes(t.anyHost)
}

// lookup finds the route for a request: the rules of the exact host first,
// then those of a matching wildcard host, then host-less rules, then the
// default backend. It returns nil when nothing matches (a 404).
func (t *routeTable) lookup(host, path string) *route {
	if path == "" {
		path = "/"
	}
	if r := t.exactHosts[host].match(path); r != nil {
		return r
	}
	if parent, ok := wildcardParent(host); ok {
		if r := t.wildcardHosts[parent].match(path); r != nil {
			return r
		}
	}
	if r := t.anyHost.match(path); r != nil {
		return r
	}
	return t.defaultRoute
}

// wildcardParent returns the domain a single-label wildcard must name to
// match host: "a.example.com" is matched by "*.example.com" only.
func wildcardParent(host string) (string, bool) {
	i := strings.IndexByte(host, '.')
	if i <= 0 || i == len(host)-1 {
		return "", false
	}
	return host[i+1:], true
}

// canonicalHost turns a Host header or SNI name into the form rules are keyed
// by: lower case, without port and trailing dot.
func canonicalHost(h string) string {
	// Only a host with a colon can carry a port; asking SplitHostPort
	// about the others costs an error value each time.
	if strings.IndexByte(h, ':') >= 0 {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}
