package ingress

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// maxResponseHeadBytes bounds a response's status line and header section,
// as net/http's server bounds a request's by default.
const maxResponseHeadBytes = 1 << 20

// errMalformedResponse: a response head breaks RFC 9112's syntax or framing.
var errMalformedResponse = errors.New("malformed response")

// responseReader reads the responses that arrive on one connection, into
// a response and body readers it reuses: the connection carries one
// request at a time, and a response is done with once relay or
// switchProtocols returns. The header map is reused too (relay copies the
// value slices, not the map); the values and the trailer are new for each
// response since the client's response may still hold them.
type responseReader struct {
	resp       http.Response
	fixed      fixedBody
	chunked    chunkedBody
	untilClose untilCloseBody
}

// maxReusedHeaderFields is the size above which a response's header map
// is dropped rather than cleared for the next one.
const maxReusedHeaderFields = 64

// read reads the head of a response to a request with the given method and
// prepares its body, framed as RFC 9112 §6.3 says. The response is valid
// until the next call.
func (rr *responseReader) read(br *bufio.Reader, method string) (*http.Response, error) {
	budget := maxResponseHeadBytes
	var long []byte // for a status line longer than br's buffer, seldom seen
	line, err := readLineWithin(br, &budget, &long)
	if err != nil {
		return nil, err
	}
	h := rr.resp.Header
	if h == nil || len(h) > maxReusedHeaderFields {
		h = make(http.Header, 16)
	} else {
		clear(h)
	}
	rr.resp = http.Response{Header: h}
	resp := &rr.resp
	if err := parseStatusLine(line, resp); err != nil {
		return nil, err
	}
	if err := readHeaderFields(br, h, &budget); err != nil {
		return nil, err
	}
	if err := rr.frame(br, method); err != nil {
		return nil, err
	}
	return resp, nil
}

// frame chooses the body's reader and length and whether the connection
// can carry another request after it.
func (rr *responseReader) frame(br *bufio.Reader, method string) error {
	resp := &rr.resp
	h := resp.Header
	if resp.ProtoMinor == 0 {
		resp.Close = !connectionListed(h["Connection"], "keep-alive")
	} else {
		resp.Close = connectionListed(h["Connection"], "close")
	}

	te, cl := h["Transfer-Encoding"], h["Content-Length"]
	length := int64(-1)
	if te != nil {
		// Transfer-Encoding overrides Content-Length, which must not be
		// passed on with it (RFC 9112 §6.3, 3).
		delete(h, "Content-Length")
	} else if cl != nil {
		n, single, err := contentLength(cl)
		if err != nil {
			return err
		}
		if len(cl) > 1 || cl[0] != single {
			// Repeated equal values are forwarded as one.
			cl[0] = single
			h["Content-Length"] = cl[:1]
		}
		length = n
	}

	code := resp.StatusCode
	switch {
	case method == http.MethodHead || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified:
		// No body, whatever the head says (RFC 9112 §6.3, 1). A 101 leaves
		// what follows its head in br for the tunnel.
		resp.Body = http.NoBody
		resp.ContentLength = 0
		if method == http.MethodHead {
			// The length of the body a GET would have had, if known.
			resp.ContentLength = length
		}
	case te != nil:
		resp.ContentLength = -1
		if cl != nil {
			// Both framings: possibly an attempt at smuggling, so nothing
			// more is read from this connection.
			resp.Close = true
		}
		if resp.ProtoMinor == 0 || len(te) != 1 || !strings.EqualFold(textproto.TrimString(te[0]), "chunked") {
			// Another coding would reach the client undeclared, as
			// Transfer-Encoding is hop-by-hop: refused, as net/http does.
			return fmt.Errorf("%w: unsupported Transfer-Encoding %q", errMalformedResponse, te)
		}
		rr.chunked.reset(br, &resp.Trailer)
		resp.Body = &rr.chunked
	case length >= 0:
		resp.ContentLength = length
		rr.fixed.reset(br, length)
		resp.Body = &rr.fixed
	default:
		resp.ContentLength = -1
		rr.untilClose.reset(br)
		resp.Body = &rr.untilClose
		resp.Close = true
	}
	return nil
}

// parseStatusLine reads "HTTP/1.x SSS reason" (RFC 9112 §4) into resp.
func parseStatusLine(line []byte, resp *http.Response) error {
	if len(line) < len("HTTP/1.1 200") || string(line[:len("HTTP/1.")]) != "HTTP/1." || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return malformedStatusLine(line)
	}
	switch line[7] {
	case '1':
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	case '0':
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		return fmt.Errorf("%w: unsupported protocol version %q", errMalformedResponse, line[:8])
	}
	code := 0
	for i, c := range line[9:12] {
		if c < '0' || c > '9' || (i == 0 && c == '0') {
			return malformedStatusLine(line)
		}
		code = code*10 + int(c-'0')
	}
	for _, c := range line[12:] {
		if fieldByteClass[c]&valueByte == 0 {
			return malformedStatusLine(line)
		}
	}
	resp.StatusCode = code
	resp.Status = statusString(line[9:])
	return nil
}

func malformedStatusLine(line []byte) error {
	if len(line) > quotedLineExcerptLen {
		line = line[:quotedLineExcerptLen]
	}
	return fmt.Errorf("%w: status line %q", errMalformedResponse, line)
}

// standardStatuses maps "200 OK" and the like to themselves, so the
// status of most responses costs no allocation.
var standardStatuses = func() map[string]string {
	m := map[string]string{}
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			s := strconv.Itoa(code) + " " + text
			m[s] = s
		}
	}
	return m
}()

// statusString is the status, code and reason, as a string.
func statusString(status []byte) string {
	if s, ok := standardStatuses[string(status)]; ok {
		return s
	}
	return string(status)
}
