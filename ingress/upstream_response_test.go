package ingress

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestResponseReader(t *testing.T) {
	// next stands for what follows a response on a kept connection.
	const next = "HTTP/1.1 204 No Content\r\n\r\n"
	for _, c := range []struct {
		name   string
		method string // GET when empty
		in     string
		// Expected response; the body is what follows the head when the
		// body is delimited by the connection closing.
		status  string
		code    int
		proto   string
		header  http.Header
		length  int64
		body    string
		trailer http.Header
		close   bool
		// rest is what the body must leave in the reader.
		rest string
		err  error
	}{
		{name: "Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"5"}, "Content-Type": {"text/plain"}},
			length: 5, body: "hello", rest: next},
		{name: "zero Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"0"}}, length: 0, rest: next},
		{name: "repeated equal Content-Length fields", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"5"}}, length: 5, body: "hello", rest: next},
		{name: "Content-Length list of equal values", in: "HTTP/1.1 200 OK\r\nContent-Length: 5 , 5\r\n\r\nhello" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"5"}}, length: 5, body: "hello", rest: next},
		{name: "chunked with trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Transfer-Encoding": {"chunked"}},
			length: -1, body: "hello", trailer: http.Header{"X-Sum": {"1"}}, rest: next},
		{name: "Transfer-Encoding with Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Transfer-Encoding": {"chunked"}},
			length: -1, body: "hello", close: true, rest: next},
		{name: "Transfer-Encoding with an invalid Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Transfer-Encoding": {"chunked"}}, length: -1, close: true},
		{name: "no length", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Content-Type": {"text/plain"}},
			length: -1, body: "until the end", close: true},
		{name: "HEAD", method: http.MethodHead, in: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"1234"}}, length: 1234, rest: next},
		{name: "HEAD without length", method: http.MethodHead, in: "HTTP/1.1 200 OK\r\n\r\n" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{}, length: -1, rest: next},
		{name: "HEAD chunked", method: http.MethodHead, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Transfer-Encoding": {"chunked"}}, length: -1, rest: next},
		{name: "204", in: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n" + next,
			status: "204 No Content", code: 204, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"0"}}, rest: next},
		{name: "304", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nEtag: \"x\"\r\n\r\n" + next,
			status: "304 Not Modified", code: 304, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"99"}, "Etag": {`"x"`}}, rest: next},
		{name: "101 leaves the tunnel's bytes", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
			status: "101 Switching Protocols", code: 101, proto: "HTTP/1.1", header: http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}},
			rest: "\x81\x05hello"},
		{name: "100", in: "HTTP/1.1 100 Continue\r\n\r\n" + next,
			status: "100 Continue", code: 100, proto: "HTTP/1.1", header: http.Header{}, rest: next},
		{name: "Connection: close", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
			status: "200 OK", code: 200, proto: "HTTP/1.1", header: http.Header{"Connection": {"keep-alive, Close"}, "Content-Length": {"2"}},
			length: 2, body: "ok", close: true},
		{name: "HTTP/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			status: "200 OK", code: 200, proto: "HTTP/1.0", header: http.Header{"Content-Length": {"2"}}, length: 2, body: "ok", close: true},
		{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok" + next,
			status: "200 OK", code: 200, proto: "HTTP/1.0", header: http.Header{"Connection": {"Keep-Alive"}, "Content-Length": {"2"}},
			length: 2, body: "ok", rest: next},
		{name: "own reason", in: "HTTP/1.1 200 Fine, thanks\r\nContent-Length: 0\r\n\r\n",
			status: "200 Fine, thanks", code: 200, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"0"}}},
		{name: "empty reason", in: "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
			status: "404 ", code: 404, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"0"}}},
		{name: "no reason", in: "HTTP/1.1 599\nContent-Length: 0\n\n",
			status: "599", code: 599, proto: "HTTP/1.1", header: http.Header{"Content-Length": {"0"}}},

		{name: "differing Content-Length fields", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", err: errMalformedHeader},
		{name: "differing Content-Length list", in: "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!", err: errMalformedHeader},
		{name: "invalid Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", err: errMalformedHeader},
		{name: "signed Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", err: errMalformedHeader},
		{name: "negative Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: errMalformedHeader},
		{name: "empty Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", err: errMalformedHeader},
		{name: "Content-Length beyond int64", in: "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", err: errMalformedHeader},
		{name: "HEAD with invalid Content-Length", method: http.MethodHead, in: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", err: errMalformedHeader},
		{name: "chunked after another coding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nzzz\r\n0\r\n\r\n", err: errMalformedResponse},
		{name: "chunked not last", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nuntil the end", err: errMalformedResponse},
		{name: "chunked in HTTP/1.0", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", err: errMalformedResponse},
		{name: "HTTP/2.0", in: "HTTP/2.0 200 OK\r\n\r\n", err: errMalformedResponse},
		{name: "HTTP/1.2", in: "HTTP/1.2 200 OK\r\n\r\n", err: errMalformedResponse},
		{name: "lower-case protocol", in: "http/1.1 200 OK\r\n\r\n", err: errMalformedResponse},
		{name: "other protocol", in: "ICY 200 OK\r\n\r\n", err: errMalformedResponse},
		{name: "two-digit status", in: "HTTP/1.1 20 OK\r\n\r\n", err: errMalformedResponse},
		{name: "four-digit status", in: "HTTP/1.1 2000 OK\r\n\r\n", err: errMalformedResponse},
		{name: "status below 100", in: "HTTP/1.1 099 Low\r\n\r\n", err: errMalformedResponse},
		{name: "no space after the status", in: "HTTP/1.1 200OK\r\n\r\n", err: errMalformedResponse},
		{name: "two spaces before the status", in: "HTTP/1.1  200 OK\r\n\r\n", err: errMalformedResponse},
		{name: "control byte in the reason", in: "HTTP/1.1 200 O\x00K\r\n\r\n", err: errMalformedResponse},
		{name: "folded field", in: "HTTP/1.1 200 OK\r\nA: 1\r\n 2\r\n\r\n", err: errMalformedHeader},
		{name: "ends in the head", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", err: io.ErrUnexpectedEOF},
		{name: "head too large", in: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", maxResponseHeadBytes) + "\r\n\r\n", err: errHeaderTooLarge},
		{name: "status line too large", in: "HTTP/1.1 200 " + strings.Repeat("b", maxResponseHeadBytes) + "\r\n\r\n", err: errHeaderTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			br := bufio.NewReader(strings.NewReader(c.in))
			var rr responseReader
			resp, err := rr.read(br, method)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != c.status || resp.StatusCode != c.code || resp.Proto != c.proto || resp.ProtoMajor != 1 ||
				resp.ProtoMinor != int(c.proto[len(c.proto)-1]-'0') {
				t.Errorf("status %q %d %s %d.%d; want %q %d %s", resp.Status, resp.StatusCode, resp.Proto, resp.ProtoMajor, resp.ProtoMinor,
					c.status, c.code, c.proto)
			}
			if !reflect.DeepEqual(resp.Header, c.header) {
				t.Errorf("header = %q, want %q", resp.Header, c.header)
			}
			if resp.ContentLength != c.length {
				t.Errorf("ContentLength = %d, want %d", resp.ContentLength, c.length)
			}
			if resp.Close != c.close {
				t.Errorf("Close = %v, want %v", resp.Close, c.close)
			}
			if resp.Trailer != nil {
				t.Errorf("Trailer = %v before the body was read", resp.Trailer)
			}
			body, err := io.ReadAll(resp.Body)
			if string(body) != c.body || err != nil {
				t.Errorf("body = %q, %v; want %q", body, err, c.body)
			}
			if err := resp.Body.Close(); err != nil {
				t.Errorf("Close after the end: %v", err)
			}
			if !reflect.DeepEqual(resp.Trailer, c.trailer) {
				t.Errorf("Trailer = %q, want %q", resp.Trailer, c.trailer)
			}
			if rest, _ := io.ReadAll(br); string(rest) != c.rest {
				t.Errorf("left %q in the reader, want %q", rest, c.rest)
			}
		})
	}
}

// One responseReader serves a connection's responses in turn; what the
// client's response may still hold of one must survive the next.
func TestResponseReaderReuse(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(
		"HTTP/1.1 200 OK\r\nA: first\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n\r\n" +
			"HTTP/1.1 404 Not Found\r\nA: second\r\nContent-Length: 2\r\n\r\nno"))
	var rr responseReader
	first, err := rr.read(br, http.MethodGet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(first.Body); err != nil {
		t.Fatal(err)
	}
	values, trailer := first.Header["A"], first.Trailer
	second, err := rr.read(br, http.MethodGet)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(second.Body)
	if err != nil || string(body) != "no" {
		t.Fatalf("second body %q, %v", body, err)
	}
	if second.StatusCode != 404 || second.Trailer != nil || second.Header["Transfer-Encoding"] != nil || second.Header.Get("A") != "second" {
		t.Errorf("second response carries the first's: %d %v %v", second.StatusCode, second.Header, second.Trailer)
	}
	if values[0] != "first" || trailer.Get("T") != "1" {
		t.Errorf("first response's values changed: %q, %v", values, trailer)
	}
}

// roundTrip passes over informational responses but returns a 101.
func TestRoundTripSkipsInformationalResponses(t *testing.T) {
	for _, c := range []struct {
		name, responses string
		code            int
		rest            string
	}{
		{"103 and 100 before 200", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok"},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes", 101, "frames"},
	} {
		t.Run(c.name, func(t *testing.T) {
			local, remote := net.Pipe()
			t.Cleanup(func() {
				_ = local.Close()
				_ = remote.Close()
			})
			go func() {
				if _, err := http.ReadRequest(bufio.NewReader(remote)); err == nil {
					_, _ = io.WriteString(remote, c.responses)
				}
				_ = remote.Close()
			}()
			uc := &upstreamConn{Conn: local, endpoint: "pipe", br: bufio.NewReader(local), bw: bufio.NewWriter(local)}
			out := &outboundRequest{in: httptest.NewRequest(http.MethodGet, "http://example.com/", nil), scheme: "http"}
			resp, err := uc.roundTrip(out)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.code)
			}
			rest, _ := io.ReadAll(io.MultiReader(resp.Body, uc.br))
			if string(rest) != c.rest {
				t.Errorf("body and what follows = %q, want %q", rest, c.rest)
			}
		})
	}
}

const smallResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 31\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 GMT\r\nServer: backend\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n\r\n" +
	"kite ingress benchmark backend\n"

func TestResponseReaderAllocations(t *testing.T) {
	skipAllocationsUnderRace(t)
	src := strings.NewReader(smallResponse)
	br := bufio.NewReaderSize(src, upstreamBufferSize)
	var rr responseReader
	buf := make([]byte, 64)
	readOne := func() {
		src.Reset(smallResponse)
		br.Reset(src)
		resp, err := rr.read(br, http.MethodGet)
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = resp.Body.Read(buf)
		}
		if err != io.EOF || resp.Body.Close() != nil {
			t.Fatalf("body: %v", err)
		}
	}
	readOne() // the header map is made once per connection
	// One string for the header's names and values, one []string for its
	// values; the status, the map and the body reader are reused.
	if allocs := testing.AllocsPerRun(1000, readOne); allocs > 2 {
		t.Errorf("%v allocations per response, want at most 2", allocs)
	}
}

func BenchmarkReadSmallResponse(b *testing.B) {
	buf := make([]byte, 64)
	b.Run("responseReader", func(b *testing.B) {
		src := strings.NewReader(smallResponse)
		br := bufio.NewReaderSize(src, upstreamBufferSize)
		var rr responseReader
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(smallResponse)
			br.Reset(src)
			resp, err := rr.read(br, http.MethodGet)
			if err != nil {
				b.Fatal(err)
			}
			for err == nil {
				_, err = resp.Body.Read(buf)
			}
			_ = resp.Body.Close()
		}
	})
	b.Run("net/http.ReadResponse", func(b *testing.B) {
		src := strings.NewReader(smallResponse)
		br := bufio.NewReaderSize(src, upstreamBufferSize)
		req := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(smallResponse)
			br.Reset(src)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				b.Fatal(err)
			}
			for err == nil {
				_, err = resp.Body.Read(buf)
			}
			_ = resp.Body.Close()
		}
	})
}
