package dns

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeUpstream is a real DNS server on loopback standing in for the host's
// resolvers. It counts the queries it gets, per name.
type fakeUpstream struct {
	port    int
	queries map[string]*atomic.Int32
}

func (u *fakeUpstream) count(name string) int32 { return u.queries[name].Load() }

// startUpstreams starts the fake upstream on 127.0.0.1 and, on the same
// port, a silent UDP socket on 127.0.0.2 that never answers, so a
// resolv.conf listing 127.0.0.2 first exercises the per-upstream timeout.
func startUpstreams(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{queries: map[string]*atomic.Int32{}}
	for _, n := range []string{"example.org.", "missing.example.org.", "big.example.org."} {
		u.queries[n] = new(atomic.Int32)
	}
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		q := req.Question[0]
		if c, ok := u.queries[q.Name]; ok {
			c.Add(1)
		}
		m := new(mdns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		switch q.Name {
		case "example.org.":
			m.Answer = append(m.Answer, mustRR(t, "example.org. 60 IN A 192.0.2.1"))
		case "big.example.org.":
			for i := range 40 {
				m.Answer = append(m.Answer, mustRR(t, fmt.Sprintf("big.example.org. 60 IN TXT \"record %d padding padding padding padding\"", i)))
			}
		default:
			m.Rcode = mdns.RcodeNameError
			m.Ns = append(m.Ns, mustRR(t, "example.org. 60 IN SOA ns.example.org. host.example.org. 1 7200 900 1209600 60"))
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Truncate(mdns.MinMsgSize) // the forwarder advertises more; make it use TCP for the big answer
		}
		_ = w.WriteMsg(m)
	})
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err1 := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		silent, err2 := net.ListenPacket("udp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
		if err1 != nil || err2 != nil {
			for _, c := range []io.Closer{pc, ln, silent} {
				if c != nil {
					_ = c.Close()
				}
			}
			if attempt > 10 {
				t.Fatalf("bind fake upstreams: %v %v", err1, err2)
			}
			continue
		}
		t.Cleanup(func() { _ = silent.Close() })
		for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
			go func() { _ = srv.ActivateAndServe() }()
			t.Cleanup(func() { _ = srv.Shutdown() })
		}
		u.port = port
		return u
	}
}

// startServer runs a Server on 127.0.0.1 with a random port against a fake
// clientset, forwarding to u, and returns its address once the informers
// have synced.
func startServer(t *testing.T, client *fake.Clientset, u *fakeUpstream) (*Server, string) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.2\nnameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := newServer(Config{
		Client:        client,
		ClusterDomain: "cluster.local",
		ListenAddrs:   []string{"127.0.0.1:0"},
		ResolvConf:    conf,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, serverOptions{upstreamPort: uint16(u.port), keepLoopbackUpstreams: true, upstreamTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	var addr string
	select {
	case addrs := <-s.bound:
		addr = addrs[0].String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	waitFor(t, "informer sync", s.synced.Load)
	return s, addr
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func query(t *testing.T, network, addr, name string, qtype uint16, udpSize uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if udpSize > 0 {
		m.SetEdns0(udpSize, false)
	}
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: udpSize}
	reply, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", network, name, err)
	}
	return reply
}

func bigHeadless(endpoints int) []runtime.Object {
	var eps []sliceEndpoint
	for i := range endpoints {
		eps = append(eps, sliceEndpoint{ip: fmt.Sprintf("10.42.%d.%d", i/200, i%200+2), ready: true})
	}
	return []runtime.Object{
		headlessService("default", "big", pgPort),
		endpointSlice("default", "big-1", "big", []svcPort{pgPort}, eps...),
	}
}

func TestServer(t *testing.T) {
	objects := append(fixtureObjects(), bigHeadless(100)...)
	client := fake.NewClientset(objects...)
	u := startUpstreams(t)
	_, addr := startServer(t, client, u)

	t.Run("cluster name over UDP and TCP", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			r := query(t, network, addr, "web.default.svc.cluster.local.", mdns.TypeA, 0)
			if r.Rcode != mdns.RcodeSuccess || !r.Authoritative || !r.RecursionAvailable || len(r.Answer) != 1 ||
				r.Answer[0].(*mdns.A).A.String() != "10.43.0.20" {
				t.Errorf("%s: reply %v", network, r)
			}
		}
	})

	t.Run("NXDOMAIN carries the SOA", func(t *testing.T) {
		r := query(t, "udp", addr, "nope.default.svc.cluster.local.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeNameError || !r.Authoritative || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA {
			t.Errorf("reply %v", r)
		}
	})

	t.Run("truncation", func(t *testing.T) {
		r := query(t, "udp", addr, "big.default.svc.cluster.local.", mdns.TypeA, 0)
		if !r.Truncated || len(r.Answer) >= 100 {
			t.Errorf("512-byte UDP client: TC=%v with %d answers, want TC and fewer than 100", r.Truncated, len(r.Answer))
		}
		r = query(t, "udp", addr, "big.default.svc.cluster.local.", mdns.TypeA, 4096)
		if r.Truncated || len(r.Answer) != 100 || r.IsEdns0() == nil {
			t.Errorf("EDNS0 4096 client: TC=%v with %d answers, OPT %v", r.Truncated, len(r.Answer), r.IsEdns0())
		}
		r = query(t, "tcp", addr, "big.default.svc.cluster.local.", mdns.TypeA, 0)
		if r.Truncated || len(r.Answer) != 100 {
			t.Errorf("TCP: TC=%v with %d answers, want all 100", r.Truncated, len(r.Answer))
		}
		r = query(t, "udp", addr, "_pg._tcp.big.default.svc.cluster.local.", mdns.TypeSRV, 1232)
		r.Compress = true // the size on the wire
		if !r.Truncated || r.Len() > 1232 {
			t.Errorf("SRV with 1232-byte buffer: TC=%v, %d bytes", r.Truncated, r.Len())
		}
	})

	t.Run("forwarding with cache and failover", func(t *testing.T) {
		for range 2 {
			r := query(t, "udp", addr, "example.org.", mdns.TypeA, 0)
			if r.Rcode != mdns.RcodeSuccess || r.Authoritative || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.1" {
				t.Fatalf("reply %v", r)
			}
		}
		if n := u.count("example.org."); n != 1 {
			t.Errorf("upstream saw %d queries for a cached name, want 1", n)
		}
		for range 2 {
			r := query(t, "tcp", addr, "missing.example.org.", mdns.TypeA, 0)
			if r.Rcode != mdns.RcodeNameError || len(r.Ns) != 1 {
				t.Fatalf("reply %v", r)
			}
		}
		if n := u.count("missing.example.org."); n != 1 {
			t.Errorf("upstream saw %d queries for a cached NXDOMAIN, want 1", n)
		}
	})

	t.Run("forwarding a truncated upstream answer", func(t *testing.T) {
		r := query(t, "tcp", addr, "big.example.org.", mdns.TypeTXT, 0)
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 40 {
			t.Errorf("rcode %s with %d answers, want all 40 via the upstream's TCP", mdns.RcodeToString[r.Rcode], len(r.Answer))
		}
	})

	t.Run("ExternalName follows the target upstream", func(t *testing.T) {
		r := query(t, "udp", addr, "ext.default.svc.cluster.local.", mdns.TypeA, 0)
		if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != mdns.TypeCNAME {
			t.Fatalf("answer %v: want only the CNAME (example.com is unknown upstream)", r.Answer)
		}
		if _, err := client.CoreV1().Services("default").Update(context.Background(),
			externalNameService("default", "ext", "example.org"), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ExternalName update", func() bool {
			r = query(t, "udp", addr, "ext.default.svc.cluster.local.", mdns.TypeA, 0)
			return len(r.Answer) == 2
		})
		if a, ok := r.Answer[1].(*mdns.A); !ok || a.A.String() != "192.0.2.1" {
			t.Errorf("answer %v", r.Answer)
		}
	})

	t.Run("malformed queries", func(t *testing.T) {
		two := new(mdns.Msg)
		two.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
		two.Question = append(two.Question, two.Question[0])
		packed, err := two.Pack()
		if err != nil {
			t.Fatal(err)
		}
		garbage := append(append([]byte{}, packed[:12]...), 0xff, 0xff, 0xff)
		garbage[5] = 1 // one question, but not a parsable one
		for name, raw := range map[string][]byte{"two questions": packed, "garbage question": garbage} {
			r := rawExchange(t, addr, raw)
			if r == nil || r.Rcode != mdns.RcodeFormatError {
				t.Errorf("%s: reply %v, want FORMERR", name, r)
			}
		}
		if r := rawExchange(t, addr, []byte{1, 2, 3}); r != nil {
			t.Errorf("short packet: reply %v, want none", r)
		}
	})

	t.Run("opcode other than QUERY", func(t *testing.T) {
		m := new(mdns.Msg)
		m.SetNotify("cluster.local.")
		r, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != mdns.RcodeNotImplemented {
			t.Errorf("NOTIFY: rcode %s, want NOTIMP", mdns.RcodeToString[r.Rcode])
		}
	})

	t.Run("EDNS version", func(t *testing.T) {
		m := new(mdns.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != mdns.RcodeBadVers {
			t.Errorf("rcode %s, want BADVERS", mdns.RcodeToString[r.Rcode])
		}
	})

	t.Run("answers follow cluster changes", func(t *testing.T) {
		ctx := context.Background()
		svc := clusterIPService("default", "late", []string{"10.43.0.99"}, httpPort)
		if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "new service", func() bool {
			return query(t, "udp", addr, "late.default.svc.cluster.local.", mdns.TypeA, 0).Rcode == mdns.RcodeSuccess
		})
		slice := endpointSlice("default", "db-1", "db", []svcPort{pgPort}, sliceEndpoint{ip: "10.42.0.50", hostname: "db-0", ready: true})
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "endpoint move", func() bool {
			r := query(t, "udp", addr, "db-0.db.default.svc.cluster.local.", mdns.TypeA, 0)
			return len(r.Answer) == 1 && r.Answer[0].(*mdns.A).A.String() == "10.42.0.50"
		})
		if err := client.CoreV1().Services("default").Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "service deletion", func() bool {
			return query(t, "udp", addr, "late.default.svc.cluster.local.", mdns.TypeA, 0).Rcode == mdns.RcodeNameError
		})
	})
}

// rawExchange sends raw bytes over UDP and returns the parsed reply, or nil
// when none comes within a short wait.
func rawExchange(t *testing.T, addr string, raw []byte) *mdns.Msg {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	m := new(mdns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("unpack reply: %v", err)
	}
	return m
}

func TestServerWithoutUpstreams(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Client: fake.NewClientset(), ListenAddrs: []string{"10.43.0.10:53"}, ResolvConf: conf,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	req := new(mdns.Msg)
	req.SetQuestion("example.org.", mdns.TypeA)
	if r, _ := s.reply(context.Background(), req, true); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	client := fake.NewClientset()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no client", Config{ListenAddrs: []string{"127.0.0.1:53"}}},
		{"no listen address", Config{Client: client}},
		{"listen address without port", Config{Client: client, ListenAddrs: []string{"127.0.0.1"}}},
		{"bad domain", Config{Client: client, ListenAddrs: []string{"127.0.0.1:53"}, ClusterDomain: "bad..domain"}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestRunReportsListenError(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s, err := New(Config{Client: fake.NewClientset(), ListenAddrs: []string{busy.LocalAddr().String()},
		ResolvConf: filepath.Join(t.TempDir(), "none"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("Run on a busy address: %v, want a prompt listen error", err)
	}
}
