package ingress

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startH1 serves handler with kite's HTTP/1.1 server on loopback.
func startH1(t *testing.T, handler http.HandlerFunc) (*h1Server, string) {
	t.Helper()
	return startH1Timeouts(t, handler, 5*time.Second, 5*time.Second)
}

func startH1Timeouts(t *testing.T, handler http.HandlerFunc, header, idle time.Duration) (*h1Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &h1Server{handler: handler, log: discardLogger(), headerTimeout: header,
		idleTimeout: idle, maxHeaderBytes: 8 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.shutdown(ctx)
		<-done
	})
	return s, ln.Addr().String()
}

// exchange writes raw to a new connection and returns all the server sent
// until it closed the connection or went quiet for a moment.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	out, _ := exchangeUntilClose(t, addr, raw)
	return out
}

// exchangeUntilClose is exchange that also says whether the server closed
// the connection (rather than going quiet).
func exchangeUntilClose(t *testing.T, addr, raw string) (string, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	buf := make([]byte, 64<<10)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := conn.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String(), err == io.EOF
		}
	}
}

// testHandler answers by path: /hello writes a small body, /stream flushes
// before it ends and sets a trailer, /echo returns the request body and
// its trailer, /head-length declares a length.
func testHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/hello":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello %s %s", r.Host, r.Proto)
	case "/stream":
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "part1")
		_ = http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "part2")
		w.Header().Set("X-Sum", "10")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	case "/echo":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "body=%s trailer=%s", body, r.Trailer.Get("X-T"))
	case "/ignore-body":
		w.WriteHeader(http.StatusAccepted)
	case "/head-length":
		w.Header().Set("Content-Length", "11")
		_, _ = io.WriteString(w, "eleven char")
	case "/newline":
		w.Header().Set("X-Evil", "a\r\nInjected: yes")
	case "/abort":
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "partial")
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	default:
		http.NotFound(w, r)
	}
}

func TestH1ServerExchanges(t *testing.T) {
	_, addr := startH1(t, testHandler)
	long := strings.Repeat("a", 9<<10)
	for _, c := range []struct {
		name, raw string
		want      []string // in this order in the output
		not       []string
	}{
		{"keep-alive with length", "GET /hello HTTP/1.1\r\nHost: a.example\r\n\r\nGET /hello HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n",
			[]string{"HTTP/1.1 200 OK\r\n", "Content-Length: 24\r\n", "hello a.example HTTP/1.1", "HTTP/1.1 200 OK\r\n", "Connection: close\r\n", "hello b.example HTTP/1.1"}, []string{"chunked"}},
		{"empty lines before the request line", "\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"200 OK", "hello a"}, nil},
		{"absolute form wins over Host", "GET http://abs.example/hello HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n", []string{"hello abs.example"}, nil},
		{"http/1.0 closes", "GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n", []string{"HTTP/1.0 200 OK\r\n", "hello  HTTP/1.0"}, []string{"keep-alive", "HTTP/1.0HTTP/1.0 200"}},
		{"http/1.0 keep-alive", "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n", []string{"Connection: keep-alive\r\n", "hello  HTTP/1.0", "HTTP/1.0 200 OK", "hello  HTTP/1.0"}, nil},
		{"http/1.0 stream is close-delimited", "GET /stream HTTP/1.0\r\n\r\n", []string{"Connection: close\r\n\r\npart1part2"}, []string{"chunked"}},
		{"flushed body is chunked with trailers", "GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"Transfer-Encoding: chunked\r\n", "\r\n5\r\npart1\r\n5\r\npart2\r\n0\r\n", "X-Sum: 10\r\n"}, nil},
		{"trailer-prefixed field is sent", "GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"X-Late: late\r\n"}, nil},
		{"HEAD keeps the declared length, sends no body", "HEAD /head-length HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"Content-Length: 11\r\n"}, []string{"eleven"}},
		{"fixed body", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", []string{"body=hello trailer="}, nil},
		{"chunked body with trailer", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: tv\r\n\r\n",
			[]string{"body=abcde trailer=tv"}, nil},
		{"unread body is skipped", "POST /ignore-body HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /hello HTTP/1.1\r\nHost: next\r\nConnection: close\r\n\r\n",
			[]string{"202 Accepted", "hello next"}, nil},
		{"pipelined requests answer in order", "GET /hello HTTP/1.1\r\nHost: one\r\n\r\nGET /hello HTTP/1.1\r\nHost: two\r\n\r\nGET /hello HTTP/1.1\r\nHost: three\r\nConnection: close\r\n\r\n",
			[]string{"hello one", "hello two", "hello three"}, nil},
		{"line breaks in values cannot inject fields", "GET /newline HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"X-Evil: a  Injected: yes\r\n"}, []string{"\r\nInjected"}},
		{"aborted body is cut off", "GET /abort HTTP/1.1\r\nHost: a\r\n\r\n", []string{"Content-Length: 100\r\n", "partial"}, nil},
		{"missing host", "GET /hello HTTP/1.1\r\n\r\n", []string{"HTTP/1.1 400 Bad Request\r\n", "Connection: close"}, []string{"hello"}},
		{"two hosts", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", []string{"400 Bad Request"}, nil},
		{"malformed host", "GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", []string{"400 Bad Request"}, nil},
		{"transfer-encoding with content-length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []string{"400 Bad Request"}, []string{"body="}},
		{"unknown transfer coding", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", []string{"501 Not Implemented"}, nil},
		{"conflicting lengths", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", []string{"400 Bad Request"}, nil},
		{"signed length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", []string{"400 Bad Request"}, nil},
		{"obs-fold", "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", []string{"400 Bad Request"}, nil},
		{"space before colon", "GET /hello HTTP/1.1\r\nHost : a\r\n\r\n", []string{"400 Bad Request"}, nil},
		{"head too large", "GET /hello HTTP/1.1\r\nHost: a\r\nX-Long: " + long + "\r\n\r\n", []string{"431 Request Header Fields Too Large"}, nil},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", []string{"505 HTTP Version Not Supported"}, nil},
		{"garbage", "HELLO\r\n\r\n", []string{"400 Bad Request"}, nil},
		{"unsupported expectation", "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", []string{"417 Expectation Failed"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := exchange(t, addr, c.raw)
			rest := out
			for _, w := range c.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("want %q (in order) in:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(c.raw, "/stream HTTP/1.1") && !strings.HasSuffix(out, "\r\n\r\n") {
				t.Errorf("the trailer section does not end in an empty line:\n%s", out)
			}
			for _, n := range c.not {
				if strings.Contains(out, n) {
					t.Errorf("unwanted %q in:\n%s", n, out)
				}
			}
		})
	}
}

// The server closes the connection after a response that says so, after
// an HTTP/1.0 exchange without keep-alive, after a refused head and after
// a handler's abort (the only sign of a cut-off body); otherwise it keeps
// the connection.
func TestH1ServerClosesConnection(t *testing.T) {
	_, addr := startH1(t, testHandler)
	for _, c := range []struct {
		name, raw string
		closed    bool
	}{
		{"keep-alive", "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"Connection: close", "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true},
		{"http/1.0", "GET /hello HTTP/1.0\r\n\r\n", true},
		{"refused head", "GET /hello HTTP/1.1\r\n\r\n", true},
		{"aborted body", "GET /abort HTTP/1.1\r\nHost: a\r\n\r\n", true},
	} {
		if _, closed := exchangeUntilClose(t, addr, c.raw); closed != c.closed {
			t.Errorf("%s: connection closed = %v, want %v", c.name, closed, c.closed)
		}
	}
}

// An Expect: 100-continue body is asked for when the handler reads it, and
// a handler that answers without reading it closes the connection: the
// client may still send the body.
func TestH1ServerExpectContinue(t *testing.T) {
	_, addr := startH1(t, testHandler)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	_, _ = io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, %v; want a 100 Continue", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue ends with %q", blank)
	}
	_, _ = io.WriteString(conn, "body")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if string(got) != "body=body trailer=" {
		t.Errorf("body %q", got)
	}

	out := exchange(t, addr, "POST /ignore-body HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	if strings.Contains(out, "100 Continue") || !strings.Contains(out, "202 Accepted") || !strings.Contains(out, "Connection: close") {
		t.Errorf("a handler that does not read the body: got\n%s", out)
	}
}

// A client that closes its connection while its request is handled ends
// the request's context.
func TestH1ServerClientGoneEndsContext(t *testing.T) {
	ended := make(chan error, 1)
	_, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			ended <- nil
		case <-time.After(5 * time.Second):
			ended <- fmt.Errorf("context still alive 5s after the client left")
		}
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(3 * clientWatchDelay)
	_ = conn.Close()
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
}

// Shutdown closes idle connections at once and lets a running request
// finish, telling its client the connection closes.
func TestH1ServerShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	s, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	idleReader := bufio.NewReader(idle)
	first, err := http.ReadResponse(idleReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(first.Body)
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, _ = io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- s.shutdown(context.Background()) }()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleReader.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: read %v, want EOF", err)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Close {
		t.Error("the last response does not say the connection closes")
	}
	if err := <-shutdownDone; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// A connection idle too long, or slow to send a whole head, is closed;
// one sending requests in time is not.
func TestH1ServerTimeouts(t *testing.T) {
	const header, idle = 300 * time.Millisecond, 600 * time.Millisecond
	_, addr := startH1Timeouts(t, testHandler, header, idle)
	closedWithin := func(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		_ = conn.SetReadDeadline(start.Add(limit))
		_, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("connection still open after %v: %v", limit, err)
		}
		return time.Since(start)
	}
	t.Run("idle", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if took := closedWithin(t, conn, 5*time.Second); took < idle-sweepTick {
			t.Errorf("closed after %v, before the idle timeout %v", took, idle)
		}
	})
	t.Run("slow head", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET /hello HTTP/1.1\r\nHost: a\r\n")
		if took := closedWithin(t, conn, 5*time.Second); took >= idle {
			t.Errorf("a head unfinished for %v was not cut at the header timeout %v", took, header)
		}
	})
	t.Run("active", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		for range 4 {
			time.Sleep(idle / 2)
			_, _ = io.WriteString(conn, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("a connection used every %v was closed: %v", idle/2, err)
			}
			_, _ = io.ReadAll(resp.Body)
		}
	})
}
