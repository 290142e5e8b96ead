package ingress

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// h1BufferSize is each client connection's read and write buffer.
	h1BufferSize = 4 << 10
	// maxUnreadBodyBytes is how much of a request body the handler left
	// unread is skipped to keep the connection; a longer rest closes it.
	maxUnreadBodyBytes = 256 << 10
)

// h1Conn is one client connection of an h1Server. Its request, response
// writer and buffers are reused by every request it carries.
type h1Conn struct {
	srv        *h1Server
	conn       net.Conn
	remoteAddr string
	br         *bufio.Reader
	bw         *bufio.Writer
	// phase is what the connection is doing and since when, for the
	// server's sweep (see h1phase.go).
	phase atomic.Uint64
	// closeAfter ends the connection after the current response.
	closeAfter bool
	// ctx is every request's context; it ends when the client is found gone
	// or the connection ends.
	ctx    context.Context
	cancel context.CancelFunc
	req    *http.Request
	url    url.URL
	body   h1RequestBody
	resp   h1Response
	watch  clientGoneWatch
}

var h1ReaderPool, h1WriterPool sync.Pool

func newH1Conn(s *h1Server, conn net.Conn) *h1Conn {
	c := &h1Conn{srv: s, conn: conn, remoteAddr: conn.RemoteAddr().String()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.req = (&http.Request{}).WithContext(c.ctx)
	c.req.Header = http.Header{}
	c.body.c = c
	c.resp = h1Response{c: c, header: http.Header{}, declared: -1}
	c.watch.c = c
	c.phase.Store(phaseAt(s.clock.Load(), phaseIdle))
	return c
}

// serve reads and answers requests until the connection ends.
func (c *h1Conn) serve() {
	if br, ok := h1ReaderPool.Get().(*bufio.Reader); ok {
		br.Reset(c.conn)
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(c.conn, h1BufferSize)
	}
	if bw, ok := h1WriterPool.Get().(*bufio.Writer); ok {
		bw.Reset(c.conn)
		c.bw = bw
	} else {
		c.bw = bufio.NewWriterSize(c.conn, h1BufferSize)
	}
	defer c.end()
	for {
		if c.br.Buffered() == 0 {
			if !c.enter(phaseIdle) || c.srv.closing.Load() {
				return
			}
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		if !c.enter(phaseHead) {
			return
		}
		if status, err := c.readRequest(); err != nil {
			if status != 0 {
				c.reject(status, err)
			}
			return
		}
		// The body is read as the handler wants it, with no time limit.
		if !c.enter(phaseHandling) {
			return
		}
		c.handle()
		if c.resp.hijacked || c.closeAfter || c.resp.failed || c.ctx.Err() != nil || !c.body.skipRest() {
			return
		}
	}
}

// end closes the connection unless a handler took it over.
func (c *h1Conn) end() {
	c.cancel()
	c.srv.forget(c)
	if c.resp.hijacked {
		return
	}
	_ = c.conn.Close()
	c.br.Reset(nil)
	c.bw.Reset(nil)
	h1ReaderPool.Put(c.br)
	h1WriterPool.Put(c.bw)
}

// handle runs the handler for the request just read and completes its
// response. A handler that panics with http.ErrAbortHandler ends the
// connection after what it wrote, so the client sees a cut-off body.
func (c *h1Conn) handle() {
	c.resp.reset()
	c.watch.start()
	aborted := false
	func() {
		defer func() {
			if v := recover(); v != nil {
				aborted = true
				if v != http.ErrAbortHandler {
					stack := make([]byte, 16<<10)
					stack = stack[:runtime.Stack(stack, false)]
					c.srv.log.Error("ingress handler panicked", "client", c.remoteAddr, "panic", fmt.Sprint(v), "stack", string(stack))
				}
			}
		}()
		c.srv.handler.ServeHTTP(&c.resp, c.req)
	}()
	if c.resp.hijacked {
		return
	}
	c.watch.stop()
	if aborted {
		c.closeAfter = true
		_ = c.bw.Flush()
		return
	}
	if c.body.awaitsContinue() {
		// The client waits for a 100 Continue that did not come: its body
		// may or may not follow, so the connection cannot carry another request.
		c.closeAfter = true
	}
	c.resp.finish()
}

// reject answers a request that could not be read, then the connection
// closes.
func (c *h1Conn) reject(status int, err error) {
	c.srv.log.LogAttrs(context.Background(), slog.LevelDebug, "bad request", slog.String("client", c.remoteAddr), slog.Any("err", err))
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	text := http.StatusText(status)
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%d %s",
		status, text, len(text)+4, status, text)
	_ = c.bw.Flush()
}

// h1RequestBody is the body of the current request as the handler reads
// it: it answers an Expect: 100-continue on the first read and notes the
// end, which keeps the connection usable and lets the client be watched.
type h1RequestBody struct {
	c       *h1Conn
	fixed   fixedBody
	chunked chunkedBody
	// r is &fixed or &chunked, or nil for a request without a body.
	r io.Reader
	// continueDue is set while a 100 Continue is owed before the first read.
	continueDue bool
	// finished is set once the body was read to its end (at once when
	// there is none); the client watch reads it.
	finished atomic.Bool
	broken   bool
}

func (b *h1RequestBody) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	if b.continueDue {
		b.continueDue = false
		if !b.c.resp.committed {
			b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := b.c.bw.Flush(); err != nil {
				b.broken = true
				return 0, err
			}
		}
	}
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		b.finished.Store(true)
	case err != nil:
		b.broken = true
	}
	return n, err
}

// Close leaves the rest of the body to the server, which skips it after the
// handler returned.
func (b *h1RequestBody) Close() error { return nil }

// awaitsContinue reports whether the client still waits for leave to send
// its body.
func (b *h1RequestBody) awaitsContinue() bool { return b.continueDue }

// skipRest reads what the handler left of the body, up to
// maxUnreadBodyBytes, and reports whether the connection can carry the
// next request.
func (b *h1RequestBody) skipRest() bool {
	if b.broken {
		return false
	}
	if b.r == nil || b.finished.Load() {
		return true
	}
	_ = b.c.conn.SetReadDeadline(time.Now().Add(b.c.srv.headerTimeout))
	n, err := io.CopyN(io.Discard, b.r, maxUnreadBodyBytes+1)
	_ = b.c.conn.SetReadDeadline(time.Time{})
	return err == io.EOF && n <= maxUnreadBodyBytes
}
