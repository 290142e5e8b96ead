package dns

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// Cluster objects shared by the tests: a ClusterIP Service with two ports, a
// dual-stack one, one without ports, a headless StatefulSet-style Service
// split over two slices, an empty headless one and three ExternalNames.

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

type svcPort struct {
	name  string
	proto corev1.Protocol
	port  int32
}

func clusterIPService(ns, name string, ips []string, ports ...svcPort) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: ips},
	}
	if len(ips) > 0 {
		svc.Spec.ClusterIP = ips[0]
	}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.name, Protocol: p.proto, Port: p.port})
	}
	return svc
}

func headlessService(ns, name string, ports ...svcPort) *corev1.Service {
	return clusterIPService(ns, name, []string{corev1.ClusterIPNone}, ports...)
}

func externalNameService(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

type sliceEndpoint struct {
	ip       string
	hostname string
	ready    bool
}

func endpointSlice(ns, name, service string, ports []svcPort, eps ...sliceEndpoint) *discoveryv1.EndpointSlice {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			discoveryv1.LabelServiceName: service, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range ports {
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: &p.name, Protocol: &p.proto, Port: &p.port})
	}
	for _, e := range eps {
		ep := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &e.ready}}
		if e.hostname != "" {
			ep.Hostname = &e.hostname
		}
		slice.Endpoints = append(slice.Endpoints, ep)
	}
	return slice
}

var (
	httpPort = svcPort{"http", corev1.ProtocolTCP, 80}
	dnsPort  = svcPort{"dns", corev1.ProtocolUDP, 53}
	pgPort   = svcPort{"pg", corev1.ProtocolTCP, 5432}
)

func fixtureObjects() []runtime.Object {
	return []runtime.Object{
		namespace("default"),
		namespace("apps"),
		clusterIPService("default", "web", []string{"10.43.0.20"}, httpPort, dnsPort),
		endpointSlice("default", "web-abc", "web", []svcPort{{"http", corev1.ProtocolTCP, 8080}},
			sliceEndpoint{ip: "10.42.0.9", ready: true}),
		clusterIPService("default", "dual", []string{"10.43.0.21", "fd00:43::21"}, httpPort),
		clusterIPService("default", "noports", []string{"10.43.0.22"}),
		headlessService("default", "db", pgPort),
		endpointSlice("default", "db-1", "db", []svcPort{pgPort},
			sliceEndpoint{ip: "10.42.0.5", hostname: "db-0", ready: true},
			sliceEndpoint{ip: "10.42.0.6", hostname: "db-1", ready: true},
			sliceEndpoint{ip: "10.42.0.7", hostname: "db-2", ready: false}),
		endpointSlice("default", "db-2", "db", []svcPort{pgPort},
			sliceEndpoint{ip: "10.42.1.8", ready: true}),
		headlessService("default", "empty", pgPort),
		externalNameService("default", "ext", "example.com"),
		externalNameService("default", "extin", "web.default.svc.cluster.local"),
		externalNameService("apps", "extip", "1.2.3.4"),
	}
}

// fixtureModel feeds the fixture objects through the informer event
// handlers, as the informers would.
func fixtureModel(t *testing.T) *model {
	t.Helper()
	m := newModel()
	w := &clusterWatch{model: m}
	for _, obj := range fixtureObjects() {
		switch o := obj.(type) {
		case *corev1.Namespace:
			w.applyNamespace(mustSlim(t, slimNamespace, o))
		case *corev1.Service:
			w.applyService(mustSlim(t, slimService, o))
		case *discoveryv1.EndpointSlice:
			w.applySlice(mustSlim(t, slimEndpointSlice, o))
		}
	}
	return m
}

func mustSlim(t *testing.T, transform func(any) (any, error), obj any) any {
	t.Helper()
	out, err := transform(obj)
	if err != nil {
		t.Fatalf("transform %T: %v", obj, err)
	}
	return out
}

// externalTable stands in for the upstream resolvers in resolver tests; the
// server tests exercise the real forwarder against a DNS server on loopback.
func externalTable(records ...string) externalLookup {
	return func(_ context.Context, name string, qtype uint16) []mdns.RR {
		var out []mdns.RR
		for _, s := range records {
			rr, err := mdns.NewRR(s)
			if err != nil {
				panic(err)
			}
			if strings.EqualFold(rr.Header().Name, name) && rr.Header().Rrtype == qtype {
				out = append(out, rr)
			}
		}
		return out
	}
}

func newFixtureResolver(t *testing.T) *resolver {
	return &resolver{
		zone:        "cluster.local.",
		model:       fixtureModel(t),
		nameServers: []netip.Addr{netip.MustParseAddr("10.43.0.10")},
		external:    externalTable("example.com. 300 IN A 93.184.216.34"),
		synced:      func() bool { return true },
	}
}

// rrStrings renders records one per string with single spaces, sorted, so
// tests compare sets in a readable form.
func rrStrings(rrs []mdns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

// cacheTombstone wraps obj as informers do when they missed its deletion.
func cacheTombstone(obj metav1.Object) cache.DeletedFinalStateUnknown {
	return cache.DeletedFinalStateUnknown{Key: obj.GetNamespace() + "/" + obj.GetName(), Obj: obj}
}
