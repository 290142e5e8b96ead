package ingress

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestClassFiltering(t *testing.T) {
	svc := newService("default", "web", "http", 80, 8080)
	slice := newSlice("default", "web", "web-1", "http", 8080, epReady, "10.0.0.1")
	cases := []struct {
		name        string
		class       *networkingv1.IngressClass
		ingressOpts []ingressOption
		wantServed  bool
	}{
		{"class name kite", nil, []ingressOption{className("kite")}, true},
		{"other class name", kiteClass(true), []ingressOption{className("nginx")}, false},
		{"class name wins over legacy annotation", nil, []ingressOption{className("kite"), annotation(annotationLegacyClass, "nginx")}, true},
		{"no class, kite is default", kiteClass(true), nil, true},
		{"no class, kite not default", kiteClass(false), nil, false},
		{"no class, no IngressClass object", nil, nil, false},
		{"legacy annotation kite", nil, []ingressOption{annotation(annotationLegacyClass, "kite")}, true},
		{"legacy annotation other, kite default", kiteClass(true), []ingressOption{annotation(annotationLegacyClass, "traefik")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]ingressOption{rule("app.example.com", "/", prefix, "web", 80)}, tc.ingressOpts...)
			objs := []runtime.Object{svc, slice, newIngress("default", "app", 0, opts...)}
			if tc.class != nil {
				objs = append(objs, tc.class)
			}
			p, _, _ := startController(t, objs...)
			got := p.table.Load().lookup("app.example.com", "/")
			if served := got != nil; served != tc.wantServed {
				t.Fatalf("served = %v, want %v", served, tc.wantServed)
			}
			if got != nil && !slices.Equal(got.backend.endpoints, []string{"10.0.0.1:8080"}) {
				t.Errorf("endpoints = %v, want [10.0.0.1:8080]", got.backend.endpoints)
			}
		})
	}
}

func TestInvalidIngressesWarnAndOthersServe(t *testing.T) {
	p, client, recorder := startController(t,
		newService("default", "web", "http", 80, 8080),
		newSlice("default", "web", "web-1", "http", 8080, epReady, "10.0.0.1"),
		newIngress("default", "good", 0, className("kite"), rule("good.example.com", "/", prefix, "web", 80)),
		newIngress("default", "no-service", 1, className("kite"), rule("bad.example.com", "/", prefix, "missing", 80)),
		newIngress("default", "bad-port", 2, className("kite"), rule("port.example.com", "/", prefix, "web", "grpc")),
		newIngress("default", "no-secret", 3, className("kite"),
			rule("tls.example.com", "/", prefix, "web", "http"), tlsFor("absent", "tls.example.com")),
	)
	table := p.table.Load()
	if r := table.lookup("good.example.com", "/x"); r == nil || len(r.backend.endpoints) != 1 {
		t.Fatalf("good ingress not served: %+v", r)
	}
	// The Ingress with a missing Secret still serves its routes (with the default certificate).
	if r := table.lookup("tls.example.com", "/"); r == nil || !slices.Equal(r.backend.endpoints, []string{"10.0.0.1:8080"}) {
		t.Fatalf("ingress with missing secret not served over HTTP: %+v", r)
	}
	if cert := table.certs.lookup("tls.example.com"); cert != nil {
		t.Errorf("certificate for tls.example.com without a secret")
	}
	// Broken backends keep their route (answering 503) instead of falling through.
	for _, host := range []string{"bad.example.com", "port.example.com"} {
		if r := table.lookup(host, "/"); r == nil || len(r.backend.endpoints) != 0 {
			t.Errorf("%s: route %+v, want one without endpoints", host, r)
		}
	}

	events := drainEvents(recorder)
	for reason, want := range map[string]string{
		"ServiceNotFound":     "service default/missing not found",
		"ServicePortNotFound": "has no TCP port grpc",
		"SecretNotFound":      "TLS secret default/absent not found",
	} {
		got := eventsWithReason(events, reason)
		if len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("%s events = %q, want one containing %q (all: %q)", reason, got, want, events)
		}
	}
	if len(events) != 3 {
		t.Errorf("events = %q, want exactly 3", events)
	}

	// A rebuild with nothing fixed reports nothing again.
	p.rebuild()
	if again := drainEvents(recorder); len(again) != 0 {
		t.Errorf("events repeated on rebuild: %q", again)
	}

	// Creating the missing Service fixes that Ingress.
	if _, err := client.CoreV1().Services("default").Create(t.Context(), newService("default", "missing", "http", 80, 9090), createOpts); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(t.Context(),
		newSlice("default", "missing", "missing-1", "http", 9090, epReady, "10.0.0.9"), createOpts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "missing service to resolve", func() bool {
		p.rebuild()
		r := p.table.Load().lookup("bad.example.com", "/")
		return r != nil && slices.Equal(r.backend.endpoints, []string{"10.0.0.9:9090"})
	})
}

func TestBackendPortResolution(t *testing.T) {
	svc := newService("shop", "api", "http", 80, "web")
	cases := []struct {
		name   string
		port   any
		slices []runtime.Object
		want   []string
	}{
		{"by number through named targetPort", 80, []runtime.Object{
			newSlice("shop", "api", "api-1", "http", 8080, epReady, "10.1.0.1", "10.1.0.2")}, []string{"10.1.0.1:8080", "10.1.0.2:8080"}},
		{"by name", "http", []runtime.Object{
			newSlice("shop", "api", "api-1", "http", 8080, epReady, "10.1.0.1")}, []string{"10.1.0.1:8080"}},
		{"target port differs per slice", "http", []runtime.Object{
			newSlice("shop", "api", "api-1", "http", 8080, epReady, "10.1.0.1"),
			newSlice("shop", "api", "api-2", "http", 9090, epReady, "10.1.0.2")}, []string{"10.1.0.1:8080", "10.1.0.2:9090"}},
		{"slice port of another name is ignored", "http", []runtime.Object{
			newSlice("shop", "api", "api-1", "metrics", 9100, epReady, "10.1.0.1")}, []string{}},
		{"not ready endpoints are skipped", 80, []runtime.Object{
			newSlice("shop", "api", "api-1", "http", 8080, epReady, "10.1.0.1"),
			newSlice("shop", "api", "api-2", "http", 8080, epNotReady, "10.1.0.2")}, []string{"10.1.0.1:8080"}},
		{"serving terminating used when none ready", 80, []runtime.Object{
			newSlice("shop", "api", "api-1", "http", 8080, epServingTerminating, "10.1.0.3"),
			newSlice("shop", "api", "api-2", "http", 8080, epNotReady, "10.1.0.2")}, []string{"10.1.0.3:8080"}},
		{"serving terminating ignored while some are ready", 80, []runtime.Object{
			newSlice("shop", "api", "api-1", "http", 8080, epServingTerminating, "10.1.0.3"),
			newSlice("shop", "api", "api-2", "http", 8080, epReady, "10.1.0.2")}, []string{"10.1.0.2:8080"}},
		{"duplicate endpoints across slices counted once", 80, []runtime.Object{
			newSlice("shop", "api", "api-1", "http", 8080, epReady, "10.1.0.1"),
			newSlice("shop", "api", "api-2", "http", 8080, epReady, "10.1.0.1")}, []string{"10.1.0.1:8080"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{svc,
				newIngress("shop", "api", 0, className("kite"), rule("", "/api", prefix, "api", tc.port))}, tc.slices...)
			p, _, _ := startController(t, objs...)
			r := p.table.Load().lookup("any.host", "/api/v1")
			if r == nil {
				t.Fatal("no route")
			}
			if !slices.Equal(r.backend.endpoints, tc.want) && !(len(tc.want) == 0 && len(r.backend.endpoints) == 0) {
				t.Errorf("endpoints = %v, want %v", r.backend.endpoints, tc.want)
			}
		})
	}
}

func TestOldestDefaultBackendAndSharedBackends(t *testing.T) {
	p, _, _ := startController(t,
		newService("default", "a", "http", 80, 80), newSlice("default", "a", "a-1", "http", 80, epReady, "10.0.0.1"),
		newService("default", "b", "http", 80, 80), newSlice("default", "b", "b-1", "http", 80, epReady, "10.0.0.2"),
		newIngress("default", "young", 0, className("kite"), defaultBackend("b", 80), rule("x.test", "/", prefix, "a", 80)),
		newIngress("default", "old", 10, className("kite"), defaultBackend("a", "http"), rule("y.test", "/", prefix, "a", 80)),
	)
	table := p.table.Load()
	if r := table.lookup("nowhere.test", "/"); r == nil || r.ingress.Name != "old" {
		t.Fatalf("default route = %+v, want the oldest ingress's", r)
	}
	if x, y := table.lookup("x.test", "/"), table.lookup("y.test", "/"); x.backend != y.backend {
		t.Errorf("routes to the same service port do not share a backend")
	}
}

func TestCertificatesBySecretAndHost(t *testing.T) {
	exactSecret, exactCert := newTLSSecret(t, "default", "exact", "secure.example.com")
	wildSecret, wildCert := newTLSSecret(t, "default", "wild", "*.wild.example.com")
	p, _, _ := startController(t,
		exactSecret, wildSecret,
		newService("default", "web", "http", 80, 80),
		newIngress("default", "tls", 0, className("kite"),
			rule("secure.example.com", "/", prefix, "web", 80), tlsFor("exact", "secure.example.com"),
			rule("*.wild.example.com", "/", prefix, "web", 80), tlsFor("wild", "*.wild.example.com")),
	)
	certs := p.table.Load().certs
	for _, c := range []struct {
		sni  string
		want []byte
	}{
		{"secure.example.com", exactCert.Raw},
		{"a.wild.example.com", wildCert.Raw},
		{"wild.example.com", nil},
		{"a.b.wild.example.com", nil},
		{"other.example.com", nil},
	} {
		got := certs.lookup(c.sni)
		switch {
		case c.want == nil && got != nil:
			t.Errorf("%s: got a certificate, want the default", c.sni)
		case c.want != nil && (got == nil || string(got.Certificate[0]) != string(c.want)):
			t.Errorf("%s: wrong certificate", c.sni)
		}
	}
}

func TestExternalNameBackend(t *testing.T) {
	svc := newService("default", "ext", "https", 443, 443)
	svc.Spec.Type = corev1.ServiceTypeExternalName
	svc.Spec.ExternalName = "upstream.example.org"
	p, _, _ := startController(t, svc,
		newIngress("default", "ext", 0, className("kite"),
			rule("a.test", "/", prefix, "ext", "https"),
			rule("b.test", "/", prefix, "ext", 8443)))
	for host, want := range map[string]string{"a.test": "upstream.example.org:443", "b.test": "upstream.example.org:8443"} {
		r := p.table.Load().lookup(host, "/")
		if r == nil || !slices.Equal(r.backend.endpoints, []string{want}) {
			t.Errorf("%s: route %+v, want endpoint %s", host, r, want)
		}
	}
}
