package ingress

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// testRoute describes one path rule for tableOf; name identifies the route in results.
type testRoute struct {
	name, host, path string
	pathType         networkingv1.PathType
	age              int // higher is older
}

func tableOf(routes ...testRoute) *routeTable {
	t := newRouteTable()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range routes {
		path, exact := normalisePath(r.path, r.pathType)
		t.add(r.host, &route{
			ingress: types.NamespacedName{Namespace: "default", Name: r.name},
			created: base.Add(-time.Duration(r.age) * time.Hour),
			exact:   exact,
			path:    path,
			backend: &backend{},
		})
	}
	t.sort()
	return t
}

const (
	exact    = networkingv1.PathTypeExact
	prefix   = networkingv1.PathTypePrefix
	implSpec = networkingv1.PathTypeImplementationSpecific
)

func TestRouteLookup(t *testing.T) {
	cases := []struct {
		name   string
		routes []testRoute
		host   string
		path   string
		want   string // route name, "" for no match
	}{
		{"exact matches itself", []testRoute{{name: "a", path: "/foo", pathType: exact}}, "", "/foo", "a"},
		{"exact ignores trailing slash request", []testRoute{{name: "a", path: "/foo", pathType: exact}}, "", "/foo/", ""},
		{"exact does not match below", []testRoute{{name: "a", path: "/foo", pathType: exact}}, "", "/foo/bar", ""},
		{"exact with trailing slash is literal", []testRoute{{name: "a", path: "/foo/", pathType: exact}}, "", "/foo", ""},
		{"prefix matches itself", []testRoute{{name: "a", path: "/foo", pathType: prefix}}, "", "/foo", "a"},
		{"prefix matches with trailing slash", []testRoute{{name: "a", path: "/foo", pathType: prefix}}, "", "/foo/", "a"},
		{"prefix matches sub path", []testRoute{{name: "a", path: "/foo", pathType: prefix}}, "", "/foo/bar", "a"},
		{"prefix is element-wise", []testRoute{{name: "a", path: "/foo", pathType: prefix}}, "", "/foobar", ""},
		{"prefix trailing slash ignored", []testRoute{{name: "a", path: "/foo/", pathType: prefix}}, "", "/foo", "a"},
		{"prefix last element must match whole", []testRoute{{name: "a", path: "/foo/bar", pathType: prefix}}, "", "/foo/barbaz", ""},
		{"root prefix matches everything", []testRoute{{name: "a", path: "/", pathType: prefix}}, "", "/anything/at/all", "a"},
		{"empty request path is root", []testRoute{{name: "a", path: "/", pathType: prefix}}, "", "", "a"},
		{"implementation specific is prefix", []testRoute{{name: "a", path: "/foo", pathType: implSpec}}, "", "/foo/x", "a"},
		{"implementation specific is element-wise", []testRoute{{name: "a", path: "/foo", pathType: implSpec}}, "", "/foox", ""},
		{"longest prefix wins", []testRoute{
			{name: "short", path: "/foo", pathType: prefix},
			{name: "long", path: "/foo/bar", pathType: prefix},
		}, "", "/foo/bar/baz", "long"},
		{"shorter prefix still serves siblings", []testRoute{
			{name: "short", path: "/foo", pathType: prefix},
			{name: "long", path: "/foo/bar", pathType: prefix},
		}, "", "/foo/baz", "short"},
		{"exact beats prefix at equal length", []testRoute{
			{name: "pre", path: "/foo", pathType: prefix, age: 5},
			{name: "ex", path: "/foo", pathType: exact},
		}, "", "/foo", "ex"},
		{"exact beats prefix with trailing slash at equal length", []testRoute{
			{name: "pre", path: "/foo/", pathType: prefix, age: 5},
			{name: "ex", path: "/foo", pathType: exact},
		}, "", "/foo", "ex"},
		{"prefix serves what exact does not", []testRoute{
			{name: "pre", path: "/foo", pathType: prefix},
			{name: "ex", path: "/foo", pathType: exact},
		}, "", "/foo/", "pre"},
		{"longer prefix beats shorter exact", []testRoute{
			{name: "ex", path: "/foo", pathType: exact},
			{name: "pre", path: "/foo/bar", pathType: prefix},
		}, "", "/foo/bar", "pre"},
		{"longer exact beats shorter prefix", []testRoute{
			{name: "pre", path: "/", pathType: prefix},
			{name: "ex", path: "/foo", pathType: exact},
		}, "", "/foo", "ex"},
		{"identical path: oldest ingress wins", []testRoute{
			{name: "young", path: "/app", pathType: prefix},
			{name: "old", path: "/app", pathType: prefix, age: 3},
		}, "", "/app", "old"},
		{"exact host", []testRoute{{name: "a", host: "foo.example.com", path: "/", pathType: prefix}}, "foo.example.com", "/", "a"},
		{"other host does not match", []testRoute{{name: "a", host: "foo.example.com", path: "/", pathType: prefix}}, "bar.example.com", "/", ""},
		{"wildcard matches one label", []testRoute{{name: "w", host: "*.example.com", path: "/", pathType: prefix}}, "a.example.com", "/", "w"},
		{"wildcard does not match the apex", []testRoute{{name: "w", host: "*.example.com", path: "/", pathType: prefix}}, "example.com", "/", ""},
		{"wildcard does not match two labels", []testRoute{{name: "w", host: "*.example.com", path: "/", pathType: prefix}}, "a.b.example.com", "/", ""},
		{"exact host wins over wildcard", []testRoute{
			{name: "w", host: "*.example.com", path: "/", pathType: prefix, age: 9},
			{name: "e", host: "a.example.com", path: "/", pathType: prefix},
		}, "a.example.com", "/", "e"},
		{"wildcard serves paths the exact host lacks", []testRoute{
			{name: "w", host: "*.example.com", path: "/", pathType: prefix},
			{name: "e", host: "a.example.com", path: "/api", pathType: prefix},
		}, "a.example.com", "/web", "w"},
		{"host rules win over host-less rules", []testRoute{
			{name: "any", path: "/", pathType: prefix, age: 9},
			{name: "h", host: "foo.example.com", path: "/", pathType: prefix},
		}, "foo.example.com", "/x", "h"},
		{"host-less rules serve any host", []testRoute{
			{name: "any", path: "/", pathType: prefix},
			{name: "h", host: "foo.example.com", path: "/", pathType: prefix},
		}, "unknown.test", "/x", "any"},
		{"rules of one host merge across ingresses", []testRoute{
			{name: "one", host: "foo.example.com", path: "/one", pathType: prefix},
			{name: "two", host: "foo.example.com", path: "/two", pathType: prefix},
		}, "foo.example.com", "/two/x", "two"},
		{"nothing matches", []testRoute{{name: "a", host: "foo.example.com", path: "/api", pathType: prefix}}, "foo.example.com", "/web", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tableOf(tc.routes...).lookup(tc.host, tc.path)
			name := ""
			if got != nil {
				name = got.ingress.Name
			}
			if name != tc.want {
				t.Errorf("lookup(%q, %q) = %q, want %q", tc.host, tc.path, name, tc.want)
			}
		})
	}
}

func TestDefaultRouteWhenNothingMatches(t *testing.T) {
	table := tableOf(testRoute{name: "a", host: "foo.example.com", path: "/api", pathType: prefix})
	table.defaultRoute = &route{ingress: types.NamespacedName{Name: "fallback"}, path: "/"}
	for _, c := range []struct{ host, path, want string }{
		{"foo.example.com", "/api/v1", "a"},
		{"foo.example.com", "/web", "fallback"},
		{"other.test", "/", "fallback"},
	} {
		if got := table.lookup(c.host, c.path); got == nil || got.ingress.Name != c.want {
			t.Errorf("lookup(%q, %q) = %v, want %s", c.host, c.path, got, c.want)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"Foo.Example.COM":      "foo.example.com",
		"foo.example.com:8080": "foo.example.com",
		"foo.example.com.":     "foo.example.com",
		"[::1]:80":             "::1",
		"[::1]":                "::1",
		"10.0.0.1:443":         "10.0.0.1",
	} {
		if got := canonicalHost(in); got != want {
			t.Errorf("canonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBackendNextStartRoundRobin(t *testing.T) {
	be := &backend{endpoints: []string{"a:1", "b:1", "c:1", "d:1"}}
	var firsts []string
	for range 5 {
		firsts = append(firsts, be.endpoints[be.nextStart()])
	}
	want := []string{"a:1", "b:1", "c:1", "d:1", "a:1"}
	for i := range want {
		if firsts[i] != want[i] {
			t.Fatalf("first endpoints = %v, want %v", firsts, want)
		}
	}
}
