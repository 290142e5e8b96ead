package ingress

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kite/test/wsecho"
)

// proxyTo runs a proxy that routes host test.example.com to port on loopback.
func proxyTo(t *testing.T, port int32, log *slog.Logger) *Proxy {
	t.Helper()
	return runProxy(t, log,
		newService("default", "web", "http", 80, int(port)),
		newSlice("default", "web", "web-1", "http", port, epReady, "127.0.0.1"),
		newIngress("default", "web", 0, className("kite"), rule("test.example.com", "/", prefix, "web", 80)),
	)
}

// send makes one request through the proxy and returns status and body.
func send(t *testing.T, p *Proxy, method, path string, body io.Reader, header http.Header) (int, http.Header, string) {
	t.Helper()
	resp := sendPlain(t, p, method, "test.example.com", path, body, header)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestProxyReusesUpstreamConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	port := portOf(t, srv.Listener.Addr())
	p := proxyTo(t, port, nil)
	for i := range 20 {
		path := "/r" + strconv.Itoa(i)
		if status, _, body := send(t, p, http.MethodGet, path, nil, nil); status != 200 || body != "ok "+path {
			t.Fatalf("request %d: status %d body %q", i, status, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d upstream connections, want 1", n)
	}
	if n := p.upstreams.idleCount("127.0.0.1:" + strconv.Itoa(int(port))); n != 1 {
		t.Errorf("%d idle upstream connections, want 1", n)
	}
}

// oneShotBackend answers one request per connection, announcing
// keep-alive, then closes the connection as a backend whose idle timeout
// struck does. It answers with the request's method and body.
func oneShotBackend(t *testing.T) (port int32, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int32{}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				body, _ := io.ReadAll(req.Body)
				reply := req.Method + " " + string(body)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(reply))+"\r\n\r\n"+reply)
			})
		}
	})
	return portOf(t, ln.Addr()), conns
}

func TestProxyReplacesClosedIdleConnections(t *testing.T) {
	port, conns := oneShotBackend(t)
	p := proxyTo(t, port, nil)
	endpoint := "127.0.0.1:" + strconv.Itoa(int(port))
	for i, c := range []struct{ method, body string }{
		{http.MethodGet, ""},
		{http.MethodGet, ""}, // sent on the closed connection first, then again
		{http.MethodPost, "payload"},
		{http.MethodPost, ""},
		{http.MethodGet, ""},
	} {
		// Let the backend's close arrive, as it does for an idle connection.
		waitFor(t, "backend to close its connection", func() bool { return int(conns.Load()) == i })
		time.Sleep(20 * time.Millisecond)
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		status, _, reply := send(t, p, c.method, "/", body, nil)
		if want := c.method + " " + c.body; status != 200 || reply != want {
			t.Errorf("request %d: status %d reply %q, want 200 %q", i, status, reply, want)
		}
		if i > 0 && p.upstreams.idleCount(endpoint) != 1 {
			t.Errorf("request %d: %d idle connections, want the last one kept", i, p.upstreams.idleCount(endpoint))
		}
	}
}

func TestProxyChunkedRequestBody(t *testing.T) {
	type seen struct {
		transferEncoding []string
		contentLength    int64
		body             string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.TransferEncoding, r.ContentLength, string(body)}
	}))
	t.Cleanup(srv.Close)
	p := proxyTo(t, portOf(t, srv.Listener.Addr()), nil)

	pr, pw := io.Pipe()
	go func() {
		for _, part := range []string{"first ", "second ", "third"} {
			_, _ = io.WriteString(pw, part)
		}
		_ = pw.Close()
	}()
	// A reader of unknown length makes the client send chunks.
	if status, _, _ := send(t, p, http.MethodPut, "/upload", io.NopCloser(pr), nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	s := <-got
	if s.body != "first second third" || len(s.transferEncoding) != 1 || s.transferEncoding[0] != "chunked" || s.contentLength != -1 {
		t.Errorf("backend saw body %q, Transfer-Encoding %v, Content-Length %d; want the body chunked", s.body, s.transferEncoding, s.contentLength)
	}

	// With a known length the body keeps it.
	if status, _, _ := send(t, p, http.MethodPut, "/upload", strings.NewReader("sized body"), nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	if s := <-got; s.body != "sized body" || s.contentLength != 10 || len(s.transferEncoding) != 0 {
		t.Errorf("backend saw body %q, Content-Length %d, Transfer-Encoding %v", s.body, s.contentLength, s.transferEncoding)
	}
}

func TestProxyDropsHopByHopHeaders(t *testing.T) {
	reqHeaders := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqHeaders <- r.Header.Clone()
		h := w.Header()
		h.Set("Connection", "X-Backend-Private")
		h.Set("X-Backend-Private", "connection only")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Connection", "keep-alive")
		h.Set("X-End-To-End", "kept")
		_, _ = io.WriteString(w, "body")
	}))
	t.Cleanup(srv.Close)
	p := proxyTo(t, portOf(t, srv.Listener.Addr()), nil)
	status, respHeader, body := send(t, p, http.MethodGet, "/", nil, http.Header{
		"Connection":       {"X-Client-Private, keep-alive"},
		"X-Client-Private": {"connection only"},
		"Keep-Alive":       {"timeout=30"},
		"Proxy-Connection": {"keep-alive"},
		"Upgrade":          {"not-asked-for"},
		"Te":               {"gzip"},
		"X-Client-Kept":    {"kept"},
	})
	if status != 200 || body != "body" {
		t.Fatalf("status %d body %q", status, body)
	}
	in := <-reqHeaders
	for _, k := range []string{"X-Client-Private", "Keep-Alive", "Proxy-Connection", "Upgrade", "Te"} {
		if v, ok := in[k]; ok {
			t.Errorf("backend got hop-by-hop request header %s: %q", k, v)
		}
	}
	if in.Get("X-Client-Kept") != "kept" {
		t.Errorf("backend lost X-Client-Kept: %v", in)
	}
	for _, k := range []string{"X-Backend-Private", "Keep-Alive", "Proxy-Connection"} {
		if v, ok := respHeader[k]; ok {
			t.Errorf("client got hop-by-hop response header %s: %q", k, v)
		}
	}
	if respHeader.Get("X-End-To-End") != "kept" {
		t.Errorf("client lost X-End-To-End: %v", respHeader)
	}
}

func TestProxyLogsClientGoneAs499(t *testing.T) {
	backendDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(backendDone)
		select {
		case <-r.Context().Done(): // the proxy gave up on the request
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	logs := &logBuffer{}
	p := proxyTo(t, portOf(t, srv.Listener.Addr()), slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpLn.Addr().String()+"/slow", nil)
	req.Host = "test.example.com"
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatal("request to a backend that never answers succeeded")
	}
	select {
	case <-backendDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend request was not cancelled after the client left")
	}
	waitFor(t, "access log line with 499", func() bool { return strings.Contains(logs.String(), "path=/slow status=499") })
}

func TestProxyUpgradeCarriesBothDirections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || upgradeOf(req.Header) != "chat" {
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		// The greeting travels in the same segment as the 101 head.
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: chat\r\nX-Chat: yes\r\n\r\nwelcome\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "echo "+line)
		}
	})
	p := proxyTo(t, portOf(t, ln.Addr()), nil)

	conn, err := net.DialTimeout("tcp", p.httpLn.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The first message follows the request at once, before any answer.
	_, _ = io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: test.example.com\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\nhello\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "chat" || resp.Header.Get("X-Chat") != "yes" {
		t.Fatalf("got %d %v, want 101 with the backend's headers", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{"welcome\n", "echo hello\n"} {
		if line, err := br.ReadString('\n'); err != nil || line != want {
			t.Fatalf("read %q (%v), want %q", line, err, want)
		}
	}
	_, _ = io.WriteString(conn, "again\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo again\n" {
		t.Fatalf("read %q (%v), want the second echo", line, err)
	}
}

// A websocket client and server as the e2e test and browsers use them.
func TestProxyWebsocketWithGorilla(t *testing.T) {
	srv := httptest.NewServer(wsecho.Handler())
	t.Cleanup(srv.Close)
	p := proxyTo(t, portOf(t, srv.Listener.Addr()), nil)
	if err := wsecho.Check("ws://"+p.httpLn.Addr().String()+"/ws", "test.example.com", 10*time.Second, "hello", "again"); err != nil {
		t.Fatalf("websocket through the proxy: %v", err)
	}
}
