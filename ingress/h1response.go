package ingress

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// pendingBodyLimit is how much of a body without a declared length is held
// back before the head goes out: a small body then gets a Content-Length
// instead of chunked framing.
const pendingBodyLimit = 4 << 10

// h1Response is the http.ResponseWriter of kite's HTTP/1.1 server. A
// connection keeps one and resets it for every request. The head is written
// when the handler flushes, writes more than pendingBodyLimit, or returns;
// the framing is chosen then.
type h1Response struct {
	c      *h1Conn
	header http.Header
	// status is the final status the handler set; 0 until it does.
	status int
	// committed is set once the head is in the connection's write buffer.
	committed bool
	// noBody: the request or the status allows no body (HEAD, 204, 304).
	noBody  bool
	chunked bool
	// declared is the length the head announced, or -1.
	declared int64
	written  int64
	// pending holds the start of a body of unknown length until commit.
	pending []byte
	// trailers are the names the handler declared in a Trailer header.
	trailers []string
	hijacked bool
	// failed is set when writing to the client failed; the connection is
	// then closed.
	failed bool
}

// errBodyTooLong is returned by Write beyond the declared Content-Length.
var errBodyTooLong = errors.New("ingress: body longer than its Content-Length")

func (w *h1Response) reset() {
	clear(w.header)
	w.status, w.committed, w.noBody, w.chunked = 0, false, false, false
	w.declared, w.written = -1, 0
	w.pending = w.pending[:0]
	w.trailers = w.trailers[:0]
	w.failed = false
}

func (w *h1Response) Header() http.Header { return w.header }

// WriteHeader sets the status. Informational statuses other than 101 are
// sent at once with the header as it is, as a final one follows them; the
// header stays, as with net/http.
func (w *h1Response) WriteHeader(code int) {
	if w.committed || w.status != 0 || w.hijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if w.c.req.ProtoMinor > 0 { // HTTP/1.0 has no informational responses
			w.writeInformational(code)
		}
		return
	}
	w.status = code
}

func (w *h1Response) writeInformational(code int) {
	bw := w.c.bw
	writeStatusLine(bw, w.c.req.ProtoMinor, code)
	w.writeFields(bw)
	bw.WriteString("\r\n")
	w.failed = bw.Flush() != nil || w.failed
}

func (w *h1Response) Write(b []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.committed {
		if !w.lengthKnown() && len(w.pending)+len(b) <= pendingBodyLimit {
			w.pending = append(w.pending, b...)
			return len(b), nil
		}
		w.commit(false)
	}
	return w.writeBody(b)
}

// lengthKnown reports whether the framing can be chosen before the whole
// body is seen: there is no body, or the handler declared its length.
func (w *h1Response) lengthKnown() bool {
	return w.bodyForbidden() || w.header["Content-Length"] != nil
}

func (w *h1Response) bodyForbidden() bool {
	return w.c.req.Method == http.MethodHead || w.status == http.StatusNoContent || w.status == http.StatusNotModified
}

// writeBody writes b after the head, in the chosen framing.
func (w *h1Response) writeBody(b []byte) (int, error) {
	if w.noBody || len(b) == 0 {
		return len(b), nil
	}
	if w.declared >= 0 && w.written+int64(len(b)) > w.declared {
		return 0, errBodyTooLong
	}
	bw := w.c.bw
	if w.chunked {
		writeInt(bw, int64(len(b)), 16)
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(b)
	if w.chunked {
		bw.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		w.failed = true
	}
	return n, err
}

// FlushError sends what was written so far.
func (w *h1Response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.committed {
		w.commit(false)
	}
	if err := w.c.bw.Flush(); err != nil {
		w.failed = true
		return err
	}
	return nil
}

// Hijack hands the client connection to the handler, with its buffered
// reader and writer; the server forgets it.
func (w *h1Response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.committed {
		return nil, nil, errors.New("ingress: hijack after the response head was written")
	}
	w.c.watch.stop()
	// Shutdown does not wait for a connection that is no longer HTTP.
	w.c.srv.forget(w.c)
	w.hijacked = true
	return w.c.conn, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

// commit chooses the framing and writes the head, then any pending body.
// done says the handler returned, so the pending bytes are the whole body.
func (w *h1Response) commit(done bool) {
	w.committed = true
	c := w.c
	w.noBody = w.bodyForbidden()
	w.declared = -1
	if cl := w.header["Content-Length"]; cl != nil {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 && len(cl) == 1 {
			w.declared = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
	addLength := false
	switch {
	case w.noBody || w.declared >= 0:
	case done:
		w.declared, addLength = int64(len(w.pending)), true
	case c.req.ProtoAtLeast(1, 1):
		w.chunked = true
	default:
		// An HTTP/1.0 client learns the end of the body from the close.
		c.closeAfter = true
	}
	bw := c.bw
	writeStatusLine(bw, c.req.ProtoMinor, w.status)
	w.writeFields(bw)
	if _, ok := w.header["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	if addLength && !w.noBody {
		bw.WriteString("Content-Length: ")
		writeInt(bw, w.declared, 10)
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		w.trailers = appendTrailerNames(w.trailers, w.header["Trailer"])
	}
	switch {
	case c.closeAfter || c.srv.closing.Load():
		c.closeAfter = true
		bw.WriteString("Connection: close\r\n")
	case c.req.ProtoMinor == 0:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		pending := w.pending
		w.pending = w.pending[:0]
		if _, err := w.writeBody(pending); err != nil && !errors.Is(err, errBodyTooLong) {
			w.failed = true
		}
	}
}

// writeFields writes the handler's header fields. Values cannot break the
// head: line breaks in them become spaces.
func (w *h1Response) writeFields(bw *bufio.Writer) {
	for key, values := range w.header {
		if strings.HasPrefix(key, http.TrailerPrefix) {
			continue
		}
		for _, v := range values {
			bw.WriteString(key)
			bw.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

// finish completes the response after the handler returned: the head if
// it is still held, the end of a chunked body with its trailers.
func (w *h1Response) finish() {
	if w.hijacked {
		return
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.committed {
		w.commit(true)
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for key, values := range w.header {
			name, ok := strings.CutPrefix(key, http.TrailerPrefix)
			if !ok && !slices.Contains(w.trailers, key) {
				continue
			}
			if !ok {
				name = key
			}
			for _, v := range values {
				writeHeaderLine(bw, http.CanonicalHeaderKey(name), v)
			}
		}
		bw.WriteString("\r\n")
	} else if w.declared >= 0 && w.written != w.declared && !w.noBody {
		w.c.closeAfter = true
	}
	if bw.Flush() != nil {
		w.failed = true
	}
}

// appendTrailerNames adds the canonical names a Trailer header declares.
func appendTrailerNames(names []string, declared []string) []string {
	for _, v := range declared {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = strings.TrimSpace(name); name != "" {
				names = append(names, http.CanonicalHeaderKey(name))
			}
		}
	}
	return names
}

// writeStatusLine writes "HTTP/1.x code reason".
func writeStatusLine(bw *bufio.Writer, minor, code int) {
	if minor == 0 {
		bw.WriteString("HTTP/1.0 ")
	} else {
		bw.WriteString("HTTP/1.1 ")
	}
	writeInt(bw, int64(code), 10)
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
}

// cachedDate is the Date header value of the current second.
type cachedDate struct {
	unix int64
	text []byte
}

var currentDate atomic.Pointer[cachedDate]

// httpDate returns the current time in the Date header's format, formatted
// once a second.
func httpDate() []byte {
	now := time.Now()
	if d := currentDate.Load(); d != nil && d.unix == now.Unix() {
		return d.text
	}
	d := &cachedDate{unix: now.Unix(), text: now.UTC().AppendFormat(nil, http.TimeFormat)}
	currentDate.Store(d)
	return d.text
}
