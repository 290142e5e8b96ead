package ingress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// outboundRequest is a client's request as it is sent to an endpoint.
type outboundRequest struct {
	in *http.Request
	// scheme and port are the listener's, for X-Forwarded-Proto and -Port.
	scheme, port string
	// upgrade is the protocol the client asks to switch to, or "".
	upgrade string
	// bodyTouched is set once the client's body was read: from then on the
	// request cannot be sent again.
	bodyTouched bool
	watchClient clientWatch
}

// hasBody reports whether the request carries a body to stream.
func (o *outboundRequest) hasBody() bool {
	return o.in.Body != nil && o.in.Body != http.NoBody && o.in.ContentLength != 0
}

// replayable reports whether the request may be sent again after an
// endpoint closed a reused connection without answering: it has no body
// and sending it twice does no harm.
func (o *outboundRequest) replayable() bool {
	if o.hasBody() {
		return false
	}
	switch o.in.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	h := o.in.Header
	return h["Idempotency-Key"] != nil || h["X-Idempotency-Key"] != nil
}

// requestTarget is the origin-form target (RFC 9112 §3.2.1) of the request.
func requestTarget(r *http.Request) string {
	if t := r.RequestURI; t != "" && (t[0] == '/' || t == "*") {
		return t
	}
	return r.URL.RequestURI()
}

// writeHead writes the request line and headers: the client's end-to-end
// headers, the X-Forwarded-* set, and the framing of the body.
func (o *outboundRequest) writeHead(bw *bufio.Writer) {
	r := o.in
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(requestTarget(r))
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")

	connection := r.Header["Connection"]
	wantsTrailers := false
	for key, values := range r.Header {
		switch key {
		case "Host", "Content-Length", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
			"X-Forwarded-Port", "X-Real-Ip":
			// Written below from the request itself.
			continue
		case "Expect":
			// The server answered the client's 100-continue already, when
			// the body was first read.
			continue
		case "Te":
			wantsTrailers = connectionListed(values, "trailers")
			continue
		}
		if !forwardable(key, connection) {
			continue
		}
		for _, v := range values {
			writeHeaderLine(bw, key, v)
		}
	}
	if wantsTrailers {
		bw.WriteString("Te: trailers\r\n")
	}
	if o.upgrade != "" {
		bw.WriteString("Connection: Upgrade\r\n")
		writeHeaderLine(bw, "Upgrade", o.upgrade)
	}

	// X-Forwarded-For gets the client appended to what it already says.
	if clientIP, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		for _, prior := range r.Header["X-Forwarded-For"] {
			bw.WriteString(prior)
			bw.WriteString(", ")
		}
		bw.WriteString(clientIP)
		bw.WriteString("\r\nX-Real-IP: ")
		bw.WriteString(clientIP)
		bw.WriteString("\r\n")
	}
	writeHeaderLine(bw, "X-Forwarded-Host", r.Host)
	writeHeaderLine(bw, "X-Forwarded-Proto", o.scheme)
	if o.port != "" {
		writeHeaderLine(bw, "X-Forwarded-Port", o.port)
	}

	switch {
	case o.hasBody() && r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		writeInt(bw, r.ContentLength, 10)
		bw.WriteString("\r\n")
	case o.hasBody():
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		// Methods that define a body say it is empty, as clients do.
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

// writeInt writes n in base. It formats into the writer's own buffer: a
// local array passed to Write would escape to the heap.
func writeInt(bw *bufio.Writer, n int64, base int) {
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, base))
}

func writeHeaderLine(bw *bufio.Writer, key, value string) {
	bw.WriteString(key)
	bw.WriteString(": ")
	bw.WriteString(value)
	bw.WriteString("\r\n")
}

// writeBody streams the client's body: as it is with a Content-Length,
// chunked when the length is unknown (then with the client's trailers).
func (o *outboundRequest) writeBody(bw *bufio.Writer) error {
	if !o.hasBody() {
		return nil
	}
	bufp := copyBuffers.Get()
	defer copyBuffers.Put(bufp)
	buf := *bufp
	r := o.in
	chunked := r.ContentLength < 0
	var sent int64
	for {
		o.bodyTouched = true
		n, rerr := r.Body.Read(buf)
		if n > 0 {
			if chunked {
				bw.WriteString(strconv.FormatInt(int64(n), 16))
				bw.WriteString("\r\n")
			}
			if _, err := bw.Write(buf[:n]); err != nil {
				return fmt.Errorf("send request body: %w", err)
			}
			if chunked {
				bw.WriteString("\r\n")
				// A body of unknown length may be a stream the endpoint
				// wants to see as it comes.
				if err := bw.Flush(); err != nil {
					return fmt.Errorf("send request body: %w", err)
				}
			}
			sent += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &clientBodyError{err: rerr}
		}
	}
	if !chunked && sent != r.ContentLength {
		return &clientBodyError{err: fmt.Errorf("request body has %d bytes, Content-Length says %d", sent, r.ContentLength)}
	}
	if chunked {
		bw.WriteString("0\r\n")
		for key, values := range r.Trailer {
			if !isHopByHop(key) && !strings.EqualFold(key, "Content-Length") {
				for _, v := range values {
					writeHeaderLine(bw, key, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	return nil
}

// clientBodyError is a failure to read the client's request body.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }
