package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// echoBackend answers with its name and what it received, as JSON.
type echoReply struct {
	Backend string      `json:"backend"`
	Host    string      `json:"host"`
	Path    string      `json:"path"`
	Proto   string      `json:"proto"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
}

func startEcho(t *testing.T, name string) (*httptest.Server, int32) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(echoReply{Backend: name, Host: r.Host, Path: r.URL.Path, Proto: r.Proto, Header: r.Header, Body: string(body)})
	}))
	t.Cleanup(srv.Close)
	return srv, portOf(t, srv.Listener.Addr())
}

func portOf(t testing.TB, a net.Addr) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// deadPort returns a loopback port nothing listens on.
func deadPort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, ln.Addr())
	_ = ln.Close()
	return port
}

// runProxy starts Run on loopback and returns the proxy once it serves.
func runProxy(t testing.TB, log *slog.Logger, objs ...runtime.Object) *Proxy {
	t.Helper()
	if log == nil {
		log = discardLogger()
	}
	return runProxyConfig(t, Config{Logger: log}, objs...)
}

// runProxyConfig is runProxy with cfg's logging settings.
func runProxyConfig(t testing.TB, cfg Config, objs ...runtime.Object) *Proxy {
	t.Helper()
	p, _, _ := newTestProxyConfig(t, cfg, objs...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-p.serving:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not start serving")
	}
	return p
}

var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// sendPlain sends a plain HTTP request for host/path through the proxy;
// the caller closes the response body.
func sendPlain(t *testing.T, p *Proxy, method, host, path string, body io.Reader, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.httpLn.Addr().String()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	return resp
}

// get sends a GET for host/path through the proxy and decodes the echo.
func get(t *testing.T, p *Proxy, host, path string, header http.Header) (*http.Response, echoReply) {
	t.Helper()
	resp := sendPlain(t, p, http.MethodGet, host, path, nil, header)
	defer resp.Body.Close()
	var reply echoReply
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			t.Fatalf("decode reply: %v", err)
		}
	}
	return resp, reply
}

func TestProxyRouting(t *testing.T) {
	_, apiPort := startEcho(t, "api")
	_, webPort := startEcho(t, "web")
	_, fallbackPort := startEcho(t, "fallback")
	logs := &logBuffer{}
	p := runProxy(t, slog.New(slog.NewTextHandler(logs, nil)),
		newService("default", "api", "http", 80, int(apiPort)),
		newSlice("default", "api", "api-1", "http", apiPort, epReady, "127.0.0.1"),
		newService("default", "web", "http", 80, int(webPort)),
		newSlice("default", "web", "web-1", "http", webPort, epReady, "127.0.0.1"),
		newService("default", "fallback", "http", 80, int(fallbackPort)),
		newSlice("default", "fallback", "fallback-1", "http", fallbackPort, epReady, "127.0.0.1"),
		newService("default", "empty", "http", 80, 80),
		newIngress("default", "site", 0, className("kite"),
			rule("shop.example.com", "/api", prefix, "api", 80),
			rule("shop.example.com", "/", prefix, "web", "http"),
			rule("shop.example.com", "/down", prefix, "empty", 80)),
		newIngress("default", "catchall", 5, className("kite"), defaultBackend("fallback", 80)),
	)
	cases := []struct {
		host, path  string
		wantStatus  int
		wantBackend string
	}{
		{"shop.example.com", "/api/orders", 200, "api"},
		{"shop.example.com", "/apiary", 200, "web"},
		{"SHOP.example.com:8080", "/", 200, "web"},
		{"shop.example.com", "/down/x", 503, ""},
		{"unknown.example.com", "/whatever", 200, "fallback"},
	}
	for _, c := range cases {
		resp, reply := get(t, p, c.host, c.path, nil)
		if resp.StatusCode != c.wantStatus || reply.Backend != c.wantBackend {
			t.Errorf("%s%s: status %d backend %q, want %d %q", c.host, c.path, resp.StatusCode, reply.Backend, c.wantStatus, c.wantBackend)
		}
		if c.wantStatus == 200 && reply.Path != c.path {
			t.Errorf("%s%s: backend saw path %q", c.host, c.path, reply.Path)
		}
	}

	// The log line and metrics are written after the response went out.
	wantLine := "ingress=default/site host=shop.example.com method=GET path=/api/orders status=200"
	wantUpstream := fmt.Sprintf("upstream=127.0.0.1:%d", apiPort)
	waitFor(t, "access log line", func() bool {
		log := logs.String()
		return strings.Contains(log, wantLine) && strings.Contains(log, wantUpstream)
	})
	for _, want := range []string{
		`kite_ingress_requests_total{namespace="default",ingress="site",code="2xx"} 3`,
		`kite_ingress_requests_total{namespace="default",ingress="site",code="5xx"} 1`,
		`kite_ingress_requests_total{namespace="default",ingress="catchall",code="2xx"} 1`,
		`kite_ingress_request_duration_seconds_count{namespace="default",ingress="site"} 4`,
		`kite_ingress_request_duration_seconds_bucket{namespace="default",ingress="site",le="+Inf"} 4`,
	} {
		waitFor(t, "metric "+want, func() bool { return strings.Contains(p.metrics.render(), want) })
	}
}

func TestProxyNotFound(t *testing.T) {
	_, port := startEcho(t, "web")
	p := runProxy(t, nil,
		newService("default", "web", "http", 80, int(port)),
		newSlice("default", "web", "web-1", "http", port, epReady, "127.0.0.1"),
		newIngress("default", "site", 0, className("kite"), rule("shop.example.com", "/app", prefix, "web", 80)),
	)
	for _, c := range []struct{ host, path string }{{"other.example.com", "/app"}, {"shop.example.com", "/"}, {"shop.example.com", "/application"}} {
		if resp, _ := get(t, p, c.host, c.path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s%s: status %d, want 404", c.host, c.path, resp.StatusCode)
		}
	}
	if resp, reply := get(t, p, "shop.example.com", "/app/x", nil); resp.StatusCode != 200 || reply.Backend != "web" {
		t.Errorf("matching request: status %d backend %q", resp.StatusCode, reply.Backend)
	}
	waitFor(t, "unmatched requests to be counted", func() bool {
		return strings.Contains(p.metrics.render(), `kite_ingress_requests_total{namespace="",ingress="",code="4xx"} 3`)
	})
}

func TestProxyForwardedHeaders(t *testing.T) {
	_, port := startEcho(t, "web")
	p := runProxy(t, nil,
		newService("default", "web", "http", 80, int(port)),
		newSlice("default", "web", "web-1", "http", port, epReady, "127.0.0.1"),
		newIngress("default", "site", 0, className("kite"), rule("shop.example.com", "/", prefix, "web", 80)),
	)
	resp, reply := get(t, p, "shop.example.com", "/h", http.Header{
		"X-Forwarded-For": {"203.0.113.7"},
		"Connection":      {"X-Secret"},
		"X-Secret":        {"hop-by-hop"},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "shop.example.com",
		"X-Forwarded-Port":  strconv.Itoa(int(portOf(t, p.httpLn.Addr()))),
		"X-Real-Ip":         "127.0.0.1",
		"X-Secret":          "",
	} {
		if got := reply.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if reply.Host != "shop.example.com" {
		t.Errorf("backend saw Host %q, want the client's", reply.Host)
	}
}

func TestProxyRoundRobinAndRetry(t *testing.T) {
	_, portA := startEcho(t, "a")
	_, portB := startEcho(t, "b")
	dead := deadPort(t)
	p := runProxy(t, nil,
		newService("default", "pool", "http", 80, 8080),
		newSlice("default", "pool", "pool-a", "http", portA, epReady, "127.0.0.1"),
		newSlice("default", "pool", "pool-b", "http", portB, epReady, "127.0.0.1"),
		newSlice("default", "pool", "pool-dead", "http", dead, epReady, "127.0.0.1"),
		newService("default", "gone", "http", 80, 8080),
		newSlice("default", "gone", "gone-1", "http", dead, epReady, "127.0.0.1"),
		newIngress("default", "site", 0, className("kite"),
			rule("pool.example.com", "/", prefix, "pool", 80),
			rule("gone.example.com", "/", prefix, "gone", 80)),
	)
	seen := map[string]int{}
	for range 9 {
		resp, reply := get(t, p, "pool.example.com", "/", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d with one dead endpoint, want retries to succeed", resp.StatusCode)
		}
		seen[reply.Backend]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || seen["a"]+seen["b"] != 9 {
		t.Errorf("requests per backend = %v, want both live endpoints used", seen)
	}
	if resp, _ := get(t, p, "gone.example.com", "/", nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("only dead endpoints: status %d, want 502", resp.StatusCode)
	}
}

func TestProxyRetryKeepsRequestBody(t *testing.T) {
	_, port := startEcho(t, "live")
	dead := deadPort(t)
	p := runProxy(t, nil,
		newService("default", "pool", "http", 80, 8080),
		newSlice("default", "pool", "pool-dead", "http", dead, epReady, "127.0.0.1"),
		newSlice("default", "pool", "pool-live", "http", port, epReady, "127.0.0.1"),
		newIngress("default", "site", 0, className("kite"), rule("pool.example.com", "/", prefix, "pool", 80)),
	)
	for i := range 4 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+p.httpLn.Addr().String()+"/upload", strings.NewReader("payload-"+strconv.Itoa(i)))
		req.Host = "pool.example.com"
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var reply echoReply
		_ = json.NewDecoder(resp.Body).Decode(&reply)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || reply.Body != "payload-"+strconv.Itoa(i) {
			t.Errorf("POST %d: status %d body %q", i, resp.StatusCode, reply.Body)
		}
	}
}

func TestProxyUpdatesOnChanges(t *testing.T) {
	_, port := startEcho(t, "web")
	p, client, _ := newTestProxy(t, discardLogger(), newService("default", "web", "http", 80, int(port)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-p.serving
	status := func() int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.httpLn.Addr().String()+"/", nil)
		req.Host = "late.example.com"
		resp, err := noRedirects.Do(req)
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, "proxy to serve 404", func() bool { return status() == http.StatusNotFound })
	if _, err := client.NetworkingV1().Ingresses("default").Create(ctx,
		newIngress("default", "late", 0, className("kite"), rule("late.example.com", "/", prefix, "web", 80)), createOpts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new ingress without endpoints to answer 503", func() bool { return status() == http.StatusServiceUnavailable })
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx,
		newSlice("default", "web", "web-1", "http", port, epReady, "127.0.0.1"), createOpts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "endpoints to be used", func() bool { return status() == http.StatusOK })
}

// Responses stream: the first part of a body the upstream is still
// sending reaches the client, whether its length is unknown (server-sent
// events) or known (a long poll, a slow download).
func TestProxyStreamsWithoutBuffering(t *testing.T) {
	const body = "first\nsecond\n"
	for _, knownLength := range []bool{false, true} {
		t.Run(fmt.Sprintf("content-length=%v", knownLength), func(t *testing.T) {
			release := make(chan struct{})
			streamer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if knownLength {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				_, _ = io.WriteString(w, "first\n")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
				_, _ = io.WriteString(w, "second\n")
			}))
			t.Cleanup(streamer.Close)
			t.Cleanup(func() {
				select {
				case <-release:
				default:
					close(release)
				}
			})
			port := portOf(t, streamer.Listener.Addr())
			p := runProxy(t, nil,
				newService("default", "stream", "http", 80, int(port)),
				newSlice("default", "stream", "stream-1", "http", port, epReady, "127.0.0.1"),
				newIngress("default", "stream", 0, className("kite"), rule("stream.example.com", "/", prefix, "stream", 80)),
			)
			req, _ := http.NewRequest(http.MethodGet, "http://"+p.httpLn.Addr().String()+"/events", nil)
			req.Host = "stream.example.com"
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if knownLength && resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d, want the upstream's", resp.ContentLength)
			}
			line := make(chan string, 1)
			go func() {
				l, _ := bufio.NewReader(resp.Body).ReadString('\n')
				line <- l
			}()
			select {
			case l := <-line:
				if l != "first\n" {
					t.Errorf("first line %q", l)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("first part not delivered while the upstream response is still open")
			}
			close(release)
		})
	}
}

// tlsDial performs a handshake with the proxy's HTTPS listener for sni.
func tlsDial(t *testing.T, p *Proxy, sni string) *tls.ConnectionState {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.httpsLn.Addr().String(),
		&tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS handshake for %q: %v", sni, err)
	}
	defer conn.Close()
	state := conn.ConnectionState()
	return &state
}

func TestProxyTLS(t *testing.T) {
	_, port := startEcho(t, "web")
	exactSecret, exactCert := newTLSSecret(t, "default", "shop-tls", "shop.example.com")
	wildSecret, wildCert := newTLSSecret(t, "default", "wild-tls", "*.apps.example.com")
	p, client, _ := newTestProxy(t, discardLogger(),
		exactSecret, wildSecret,
		newService("default", "web", "http", 80, int(port)),
		newSlice("default", "web", "web-1", "http", port, epReady, "127.0.0.1"),
		newIngress("default", "shop", 0, className("kite"),
			annotation(AnnotationSSLRedirect, "true"),
			rule("shop.example.com", "/", prefix, "web", 80),
			rule("plain.example.com", "/", prefix, "web", 80),
			tlsFor("shop-tls", "shop.example.com")),
		newIngress("default", "apps", 0, className("kite"),
			rule("*.apps.example.com", "/", prefix, "web", 80),
			tlsFor("wild-tls", "*.apps.example.com")),
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-p.serving
	waitFor(t, "certificates to load", func() bool { return p.table.Load().certs.lookup("shop.example.com") != nil })

	t.Run("SNI picks the certificate", func(t *testing.T) {
		for _, c := range []struct {
			sni  string
			want []byte
		}{
			{"shop.example.com", exactCert.Raw},
			{"x.apps.example.com", wildCert.Raw},
			{"plain.example.com", p.defaultCert.Certificate[0]},
			{"a.b.apps.example.com", p.defaultCert.Certificate[0]},
			{"", p.defaultCert.Certificate[0]},
		} {
			got := tlsDial(t, p, c.sni).PeerCertificates[0].Raw
			if string(got) != string(c.want) {
				t.Errorf("SNI %q: served a different certificate", c.sni)
			}
		}
	})

	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
		DialTLSContext:    nil,
	}}
	t.Cleanup(httpsClient.CloseIdleConnections)

	t.Run("h2 via ALPN", func(t *testing.T) {
		if proto := tlsDial(t, p, "shop.example.com").NegotiatedProtocol; proto != "h2" {
			t.Fatalf("ALPN negotiated %q, want h2", proto)
		}
		req, _ := http.NewRequest(http.MethodGet, "https://"+p.httpsLn.Addr().String()+"/secure", nil)
		req.Host = "shop.example.com"
		resp, err := httpsClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var reply echoReply
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			t.Fatal(err)
		}
		if resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 {
			t.Errorf("client got %s %d, want HTTP/2.0 200", resp.Proto, resp.StatusCode)
		}
		if reply.Header.Get("X-Forwarded-Proto") != "https" || reply.Proto != "HTTP/1.1" {
			t.Errorf("upstream saw proto %s, X-Forwarded-Proto %q", reply.Proto, reply.Header.Get("X-Forwarded-Proto"))
		}
	})

	t.Run("ssl redirect", func(t *testing.T) {
		resp, _ := get(t, p, "shop.example.com", "/cart?id=7", nil)
		want := fmt.Sprintf("https://shop.example.com:%d/cart?id=7", portOf(t, p.httpsLn.Addr()))
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Errorf("got %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		// A host of the same Ingress without TLS is not redirected.
		if resp, reply := get(t, p, "plain.example.com", "/", nil); resp.StatusCode != 200 || reply.Backend != "web" {
			t.Errorf("plain host: status %d", resp.StatusCode)
		}
		// An Ingress without the annotation is not redirected.
		if resp, _ := get(t, p, "x.apps.example.com", "/", nil); resp.StatusCode != 200 {
			t.Errorf("wildcard host without annotation: status %d", resp.StatusCode)
		}
	})

	t.Run("certificate rotation", func(t *testing.T) {
		// Keep a connection open across the change: it must keep working.
		before := tlsDial(t, p, "shop.example.com").PeerCertificates[0].Raw
		req, _ := http.NewRequest(http.MethodGet, "https://"+p.httpsLn.Addr().String()+"/", nil)
		req.Host = "shop.example.com"
		if resp, err := httpsClient.Do(req); err != nil {
			t.Fatal(err)
		} else {
			_ = resp.Body.Close()
		}

		rotated, rotatedCert := newTLSSecret(t, "default", "shop-tls", "shop.example.com")
		if _, err := client.CoreV1().Secrets("default").Update(ctx, rotated, updateOpts); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "rotated certificate to be served", func() bool {
			return string(tlsDial(t, p, "shop.example.com").PeerCertificates[0].Raw) == string(rotatedCert.Raw)
		})
		if string(before) == string(rotatedCert.Raw) {
			t.Fatal("rotation produced the same certificate")
		}
		// The pooled h2 connection from before the change still serves.
		resp, err := httpsClient.Do(req)
		if err != nil {
			t.Fatalf("request on existing connection after rotation: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("status %d after rotation", resp.StatusCode)
		}
	})
}

func TestRunFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, _, _ := newTestProxy(t, discardLogger())
	p.cfg.HTTPSAddr = ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Run(ctx)
	var opErr *net.OpError
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) || !errors.As(err, &opErr) {
		t.Errorf("Run on a busy port = %v, want a wrapped listen error", err)
	}
}
