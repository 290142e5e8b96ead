package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errBadRequest marks a request the server answers with 400.
var errBadRequest = errors.New("bad request")

// readRequest reads the next request head into c.req and prepares its
// body. On failure it returns the status to answer with, or 0 when the
// connection is to close silently (it ended, or timed out).
func (c *h1Conn) readRequest() (status int, err error) {
	budget := c.srv.maxHeaderBytes
	line, err := readRequestLine(c.br, &budget)
	if err != nil {
		return headStatus(err), err
	}
	r := c.req
	method, target, minor, status, err := parseRequestLine(line)
	if err != nil {
		return status, err
	}
	h := c.req.Header
	clear(h)
	if err := readHeaderFields(c.br, h, &budget); err != nil {
		return headStatus(err), err
	}

	r.Method, r.RequestURI = method, target
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, minor
	if minor == 0 {
		r.Proto = "HTTP/1.0"
	}
	r.RemoteAddr = c.remoteAddr
	r.Trailer, r.TransferEncoding, r.Form, r.PostForm, r.MultipartForm = nil, nil, nil, nil, nil
	if r.URL, err = requestURL(&c.url, method, target); err != nil {
		return http.StatusBadRequest, err
	}
	if r.Host, err = requestHost(r, h); err != nil {
		return http.StatusBadRequest, err
	}
	r.Close = wantsClose(minor, h["Connection"])
	c.closeAfter = r.Close
	if status, err := c.prepareBody(r, h); err != nil {
		return status, err
	}
	return 0, nil
}

// headStatus is the answer to a head that could not be read.
func headStatus(err error) int {
	switch {
	case errors.Is(err, errHeaderTooLarge):
		return http.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, errMalformedHeader), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	}
	return 0 // the connection ended or timed out
}

// readRequestLine returns the request line without its line end, skipping
// empty lines before it (RFC 9112 §2.2). The line is valid until the next
// read from br.
func readRequestLine(br *bufio.Reader, budget *int) ([]byte, error) {
	var long []byte
	for {
		line, err := readLineWithin(br, budget, &long)
		if err != nil || len(line) > 0 {
			return line, err
		}
	}
}

// parseRequestLine splits "METHOD target HTTP/1.x".
func parseRequestLine(line []byte) (method, target string, minor, status int, err error) {
	m, rest, ok1 := bytes.Cut(line, []byte{' '})
	t, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(m) == 0 || len(t) == 0 {
		return "", "", 0, http.StatusBadRequest, fmt.Errorf("%w: malformed request line %q", errBadRequest, line)
	}
	switch string(version) {
	case "HTTP/1.1":
		minor = 1
	case "HTTP/1.0":
		minor = 0
	default:
		if len(version) == 8 && bytes.HasPrefix(version, []byte("HTTP/")) && version[5] >= '2' && version[5] <= '9' && version[6] == '.' {
			return "", "", 0, http.StatusHTTPVersionNotSupported, fmt.Errorf("unsupported protocol version %q", version)
		}
		return "", "", 0, http.StatusBadRequest, fmt.Errorf("%w: malformed protocol version %q", errBadRequest, version)
	}
	for _, b := range t {
		if b <= ' ' || b == 0x7f {
			return "", "", 0, http.StatusBadRequest, fmt.Errorf("%w: invalid request target %q", errBadRequest, t)
		}
	}
	return methodString(m), string(t), minor, 0, validMethod(m)
}

// knownMethods are the methods whose names a request costs no allocation.
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// methodString returns the method's name, shared for the known ones.
func methodString(m []byte) string {
	for _, known := range knownMethods {
		if string(m) == known {
			return known
		}
	}
	return string(m)
}

func validMethod(m []byte) error {
	if !httpguts.ValidHeaderFieldName(string(m)) { // a method is a token
		return fmt.Errorf("%w: invalid method %q", errBadRequest, m)
	}
	return nil
}

// requestURL parses the request target: the authority of a CONNECT, or an
// origin, absolute or asterisk form. A plain origin-form target (no
// escapes, the common case) is split into u, the connection's own URL,
// without url's parser.
func requestURL(u *url.URL, method, target string) (*url.URL, error) {
	if method == http.MethodConnect && !strings.HasPrefix(target, "/") {
		return &url.URL{Host: target}, nil
	}
	if target[0] == '/' && !strings.ContainsAny(target, "%#") {
		path, query, hasQuery := strings.Cut(target, "?")
		*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
		return u, nil
	}
	parsed, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return parsed, nil
}

// requestHost is the host the request is for: the target's authority in
// absolute form, else the single valid Host field an HTTP/1.1 request must
// carry. The Host field leaves the header, as in net/http.
func requestHost(r *http.Request, h http.Header) (string, error) {
	hosts, present := h["Host"]
	delete(h, "Host")
	switch {
	case len(hosts) > 1:
		return "", fmt.Errorf("%w: more than one Host field", errBadRequest)
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return "", fmt.Errorf("%w: malformed Host field %q", errBadRequest, hosts[0])
	case r.URL.Host != "":
		return r.URL.Host, nil
	case present:
		return hosts[0], nil
	case r.ProtoMinor >= 1 && r.Method != http.MethodConnect:
		return "", fmt.Errorf("%w: missing Host field", errBadRequest)
	}
	return "", nil
}

// wantsClose reports whether the client asks to close the connection after
// the response: it says so, or it speaks HTTP/1.0 without keep-alive.
func wantsClose(minor int, connection []string) bool {
	if minor == 0 {
		return !connectionListed(connection, "keep-alive")
	}
	return connectionListed(connection, "close")
}

// prepareBody frames the request body from Transfer-Encoding and
// Content-Length (RFC 9112 §6.3). A request with both, with a coding other
// than chunked alone, or with conflicting lengths is refused: a proxy that
// read such a body differently from its endpoint could be made to smuggle
// a request.
func (c *h1Conn) prepareBody(r *http.Request, h http.Header) (status int, err error) {
	b := &c.body
	b.r, b.continueDue, b.broken = nil, false, false
	b.finished.Store(false)
	te, cl := h["Transfer-Encoding"], h["Content-Length"]
	switch {
	case te != nil && (cl != nil || r.ProtoMinor == 0):
		return http.StatusBadRequest, fmt.Errorf("%w: Transfer-Encoding with Content-Length or in HTTP/1.0", errBadRequest)
	case te != nil:
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return http.StatusNotImplemented, fmt.Errorf("unsupported transfer coding %q", te)
		}
		delete(h, "Transfer-Encoding")
		r.TransferEncoding = []string{"chunked"}
		r.ContentLength = -1
		b.chunked.reset(c.br, &r.Trailer)
		b.r = &b.chunked
	case cl != nil:
		n, _, err := contentLength(cl)
		if err != nil {
			return http.StatusBadRequest, err
		}
		r.ContentLength = n
		if n > 0 {
			b.fixed.reset(c.br, n)
			b.r = &b.fixed
		}
	default:
		r.ContentLength = 0
	}
	if b.r == nil {
		r.Body = http.NoBody
		b.finished.Store(true)
	} else {
		r.Body = b
	}
	if expect, ok := h["Expect"]; ok {
		if len(expect) != 1 || !strings.EqualFold(expect[0], "100-continue") {
			return http.StatusExpectationFailed, fmt.Errorf("unsupported expectation %q", expect)
		}
		b.continueDue = b.r != nil && r.ProtoMinor >= 1
	}
	return 0, nil
}
