package dns

import (
	"context"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestResolve(t *testing.T) {
	const soa = "SOA"
	r := newFixtureResolver(t)
	tests := []struct {
		name       string
		qname      string
		qtype      uint16
		rcode      int
		answer     []string
		additional []string
		authority  string // "SOA" when the zone's SOA is expected
	}{
		// ClusterIP Services.
		{"clusterIP A", "web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}, nil, ""},
		{"case preserved", "WEB.Default.svc.Cluster.Local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"WEB.Default.svc.Cluster.Local. 5 IN A 10.43.0.20"}, nil, ""},
		{"clusterIP AAAA on IPv4-only is NODATA", "web.default.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, nil, nil, soa},
		{"clusterIP TXT is NODATA", "web.default.svc.cluster.local.", mdns.TypeTXT, mdns.RcodeSuccess, nil, nil, soa},
		{"dual-stack A", "dual.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"dual.default.svc.cluster.local. 5 IN A 10.43.0.21"}, nil, ""},
		{"dual-stack AAAA", "dual.default.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess,
			[]string{"dual.default.svc.cluster.local. 5 IN AAAA fd00:43::21"}, nil, ""},
		{"service without ports A", "noports.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"noports.default.svc.cluster.local. 5 IN A 10.43.0.22"}, nil, ""},
		{"service without ports SRV is NODATA", "noports.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess, nil, nil, soa},
		{"endpoint name of a clusterIP service", "10-42-0-9.web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"10-42-0-9.web.default.svc.cluster.local. 5 IN A 10.42.0.9"}, nil, ""},

		// SRV.
		{"SRV named port", "_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
			[]string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}, ""},
		{"SRV udp port", "_dns._udp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"_dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local."},
			[]string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}, ""},
		{"SRV on the service name lists every port", "web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{
				"web.default.svc.cluster.local. 5 IN SRV 0 50 53 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN SRV 0 50 80 web.default.svc.cluster.local.",
			},
			[]string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}, ""},
		{"SRV wrong protocol", "_http._udp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, nil, nil, soa},
		{"SRV unknown port", "_https._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, nil, nil, soa},
		{"A on an SRV name", "_http._tcp.web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"_http._tcp.web.default.svc.cluster.local. 5 IN A 10.43.0.20"}, nil, ""},
		{"protocol label is an empty non-terminal", "_tcp.web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil, nil, soa},
		{"headless SRV", "_pg._tcp.db.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 10-42-1-8.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-1.db.default.svc.cluster.local.",
			},
			[]string{
				"10-42-1-8.db.default.svc.cluster.local. 5 IN A 10.42.1.8",
				"db-0.db.default.svc.cluster.local. 5 IN A 10.42.0.5",
				"db-1.db.default.svc.cluster.local. 5 IN A 10.42.0.6",
			}, ""},

		// Headless Services.
		{"headless A lists ready endpoints of all slices", "db.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{
				"db.default.svc.cluster.local. 5 IN A 10.42.0.5",
				"db.default.svc.cluster.local. 5 IN A 10.42.0.6",
				"db.default.svc.cluster.local. 5 IN A 10.42.1.8",
			}, nil, ""},
		{"endpoint hostname", "db-0.db.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"db-0.db.default.svc.cluster.local. 5 IN A 10.42.0.5"}, nil, ""},
		{"endpoint dashed address", "10-42-1-8.db.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"10-42-1-8.db.default.svc.cluster.local. 5 IN A 10.42.1.8"}, nil, ""},
		{"not ready endpoint", "db-2.db.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"headless without endpoints", "empty.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},

		// ExternalName.
		{"ExternalName CNAME", "ext.default.svc.cluster.local.", mdns.TypeCNAME, mdns.RcodeSuccess,
			[]string{"ext.default.svc.cluster.local. 5 IN CNAME example.com."}, nil, ""},
		{"ExternalName A follows the target upstream", "ext.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"example.com. 300 IN A 93.184.216.34", "ext.default.svc.cluster.local. 5 IN CNAME example.com."}, nil, ""},
		{"ExternalName into the zone", "extin.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"extin.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. 5 IN A 10.43.0.20"}, nil, ""},
		{"ExternalName with an address publishes nothing", "extip.apps.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"ExternalName has no port names", "_http._tcp.ext.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, nil, nil, soa},

		// Pods (CoreDNS "pods insecure").
		{"pod A", "10-42-0-5.default.pod.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"10-42-0-5.default.pod.cluster.local. 5 IN A 10.42.0.5"}, nil, ""},
		{"pod AAAA of an IPv4 pod", "10-42-0-5.default.pod.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, nil, nil, soa},
		{"IPv6 pod", "fd00--5.default.pod.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess,
			[]string{"fd00--5.default.pod.cluster.local. 5 IN AAAA fd00::5"}, nil, ""},
		{"pod name that is no address", "web-1.default.pod.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"pod in missing namespace", "10-42-0-5.nope.pod.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"pod name too long", "x.10-42-0-5.default.pod.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},

		// Existence: NXDOMAIN versus NODATA.
		{"missing service", "nope.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"service in missing namespace", "web.nope.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"missing endpoint", "db-9.db.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"namespace is an empty non-terminal", "default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil, nil, soa},
		{"missing namespace", "nope.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"svc is an empty non-terminal", "svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil, nil, soa},
		{"pod is an empty non-terminal", "pod.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil, nil, soa},
		{"pod namespace", "default.pod.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil, nil, soa},
		{"unknown second-level label", "foo.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},
		{"name too long", "a.b.c.web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil, nil, soa},

		// Zone apex and specials.
		{"apex A is NODATA", "cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil, nil, soa},
		{"apex SOA", "cluster.local.", mdns.TypeSOA, mdns.RcodeSuccess, []string{soa}, nil, ""},
		{"apex NS", "cluster.local.", mdns.TypeNS, mdns.RcodeSuccess,
			[]string{"cluster.local. 5 IN NS ns.dns.cluster.local."},
			[]string{"ns.dns.cluster.local. 5 IN A 10.43.0.10"}, ""},
		{"name server A", "ns.dns.cluster.local.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"ns.dns.cluster.local. 5 IN A 10.43.0.10"}, nil, ""},
		{"dns-version", "dns-version.cluster.local.", mdns.TypeTXT, mdns.RcodeSuccess,
			[]string{`dns-version.cluster.local. 28800 IN TXT "1.1.0"`}, nil, ""},
		{"dns-version A is NODATA", "dns-version.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil, nil, soa},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.resolve(context.Background(), mdns.Question{Name: tt.qname, Qtype: tt.qtype, Qclass: mdns.ClassINET})
			if res.rcode != tt.rcode {
				t.Fatalf("rcode = %s, want %s", mdns.RcodeToString[res.rcode], mdns.RcodeToString[tt.rcode])
			}
			answer := rrStrings(res.answer)
			if len(tt.answer) == 1 && tt.answer[0] == soa {
				if len(res.answer) != 1 || res.answer[0].Header().Rrtype != mdns.TypeSOA {
					t.Fatalf("answer = %q, want the SOA", answer)
				}
			} else if !slices.Equal(answer, tt.answer) {
				t.Errorf("answer =\n  %s\nwant\n  %s", strings.Join(answer, "\n  "), strings.Join(tt.answer, "\n  "))
			}
			if got := rrStrings(res.additional); !slices.Equal(got, tt.additional) {
				t.Errorf("additional = %q, want %q", got, tt.additional)
			}
			wantSOA := tt.authority == soa
			gotSOA := len(res.authority) == 1 && res.authority[0].Header().Rrtype == mdns.TypeSOA
			if wantSOA != gotSOA || (!wantSOA && len(res.authority) > 0) {
				t.Errorf("authority = %q, want SOA: %v", rrStrings(res.authority), wantSOA)
			}
		})
	}
}

func TestSOA(t *testing.T) {
	r := newFixtureResolver(t)
	soa := r.soa()
	if soa.Hdr.Name != "cluster.local." || soa.Hdr.Ttl != 5 || soa.Minttl != 5 ||
		soa.Ns != "ns.dns.cluster.local." || soa.Mbox != "hostmaster.cluster.local." || soa.Serial == 0 {
		t.Errorf("SOA = %s", soa)
	}
}

func TestResolveUnsyncedFailsInsteadOfNXDOMAIN(t *testing.T) {
	r := newFixtureResolver(t)
	r.synced = func() bool { return false }
	q := mdns.Question{Name: "nope.default.svc.cluster.local.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}
	if res := r.resolve(context.Background(), q); res.rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL before sync", mdns.RcodeToString[res.rcode])
	}
	q.Name = "web.default.svc.cluster.local."
	if res := r.resolve(context.Background(), q); res.rcode != mdns.RcodeSuccess || len(res.answer) != 1 {
		t.Errorf("known name before sync: rcode %s, %d answers", mdns.RcodeToString[res.rcode], len(res.answer))
	}
}

func TestResolveReverse(t *testing.T) {
	r := newFixtureResolver(t)
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		handled bool
		answer  []string
	}{
		{"cluster IP", "20.0.43.10.in-addr.arpa.", mdns.TypePTR, true,
			[]string{"20.0.43.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."}},
		{"endpoint with hostname", "5.0.42.10.in-addr.arpa.", mdns.TypePTR, true,
			[]string{"5.0.42.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local."}},
		{"endpoint without hostname", "8.1.42.10.in-addr.arpa.", mdns.TypePTR, true,
			[]string{"8.1.42.10.in-addr.arpa. 5 IN PTR 10-42-1-8.db.default.svc.cluster.local."}},
		{"IPv6 cluster IP", "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa.", mdns.TypePTR, true,
			[]string{"1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa. 5 IN PTR dual.default.svc.cluster.local."}},
		{"not ready endpoint goes upstream", "7.0.42.10.in-addr.arpa.", mdns.TypePTR, false, nil},
		{"unknown address goes upstream", "1.1.168.192.in-addr.arpa.", mdns.TypePTR, false, nil},
		{"partial reverse name goes upstream", "42.10.in-addr.arpa.", mdns.TypePTR, false, nil},
		{"other types go upstream", "20.0.43.10.in-addr.arpa.", mdns.TypeA, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, handled := r.resolveReverse(mdns.Question{Name: tt.qname, Qtype: tt.qtype, Qclass: mdns.ClassINET})
			if handled != tt.handled {
				t.Fatalf("handled = %v, want %v", handled, tt.handled)
			}
			if got := rrStrings(res.answer); !slices.Equal(got, tt.answer) {
				t.Errorf("answer = %q, want %q", got, tt.answer)
			}
		})
	}
}

func TestModelUpdates(t *testing.T) {
	r := newFixtureResolver(t)
	w := &clusterWatch{model: r.model}
	ask := func(name string) result {
		return r.resolve(context.Background(), mdns.Question{Name: name, Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	}

	// A slice update replaces that slice's addresses only.
	w.applySlice(mustSlim(t, slimEndpointSlice, endpointSlice("default", "db-2", "db", []svcPort{pgPort},
		sliceEndpoint{ip: "10.42.1.9", ready: true})))
	if got := rrStrings(ask("db.default.svc.cluster.local.").answer); !slices.Equal(got, []string{
		"db.default.svc.cluster.local. 5 IN A 10.42.0.5",
		"db.default.svc.cluster.local. 5 IN A 10.42.0.6",
		"db.default.svc.cluster.local. 5 IN A 10.42.1.9",
	}) {
		t.Errorf("after slice update: %q", got)
	}
	if _, ok := r.resolveReverse(mdns.Question{Name: "8.1.42.10.in-addr.arpa.", Qtype: mdns.TypePTR}); ok {
		t.Error("old endpoint address still has a PTR record")
	}

	// The same address in two slices (mid-move) is one record.
	w.applySlice(mustSlim(t, slimEndpointSlice, endpointSlice("default", "db-3", "db", []svcPort{pgPort},
		sliceEndpoint{ip: "10.42.1.9", ready: true})))
	if n := len(ask("db.default.svc.cluster.local.").answer); n != 3 {
		t.Errorf("duplicate address across slices: %d records, want 3", n)
	}

	// Deleting a Service (also through a tombstone) and a namespace.
	w.removeService(cacheTombstone(clusterIPService("default", "web", []string{"10.43.0.20"})))
	if res := ask("web.default.svc.cluster.local."); res.rcode != mdns.RcodeNameError {
		t.Errorf("deleted service: rcode %s", mdns.RcodeToString[res.rcode])
	}
	if _, ok := r.resolveReverse(mdns.Question{Name: "20.0.43.10.in-addr.arpa.", Qtype: mdns.TypePTR}); ok {
		t.Error("deleted service still has a PTR record")
	}
	w.removeNamespace(namespace("apps"))
	if res := ask("apps.svc.cluster.local."); res.rcode != mdns.RcodeNameError {
		t.Errorf("deleted namespace: rcode %s", mdns.RcodeToString[res.rcode])
	}

	// A slice that loses its service-name label leaves its Service.
	unlabeled := endpointSlice("default", "db-1", "db", []svcPort{pgPort})
	delete(unlabeled.Labels, "kubernetes.io/service-name")
	w.applySlice(mustSlim(t, slimEndpointSlice, unlabeled))
	if res := ask("db-0.db.default.svc.cluster.local."); res.rcode != mdns.RcodeNameError {
		t.Errorf("endpoint of unlabeled slice: rcode %s", mdns.RcodeToString[res.rcode])
	}
}

func TestParseSchemaName(t *testing.T) {
	tests := []struct {
		name string
		want schemaName
	}{
		{"cluster.local.", schemaName{kind: nameApex}},
		{"svc.cluster.local.", schemaName{kind: nameTypeRoot}},
		{"Default.SVC.cluster.local.", schemaName{kind: nameNamespace, namespace: "default"}},
		{"web.default.svc.cluster.local.", schemaName{kind: nameService, namespace: "default", service: "web"}},
		{"db-0.db.default.svc.cluster.local.", schemaName{kind: nameEndpoint, namespace: "default", service: "db", endpoint: "db-0"}},
		{"_HTTP._tcp.web.default.svc.cluster.local.", schemaName{kind: namePort, namespace: "default", service: "web", port: "http", protocol: "tcp"}},
		{"1-2-3-4.default.pod.cluster.local.", schemaName{kind: namePod, pod: true, namespace: "default", service: "1-2-3-4"}},
		{"x.1-2-3-4.default.pod.cluster.local.", schemaName{}},
		{"ns.dns.cluster.local.", schemaName{kind: nameNameServer}},
		{"other.cluster.local.", schemaName{}},
	}
	for _, tt := range tests {
		if got := parseSchemaName(tt.name, "cluster.local."); got != tt.want {
			t.Errorf("parseSchemaName(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
