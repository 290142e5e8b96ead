package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errStaleConn marks a reused keep-alive connection the endpoint had closed
// before it saw the request; sending the request again is safe.
var errStaleConn = errors.New("endpoint closed the idle connection")

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// forward sends r to the next endpoint of be, and to the following ones
// while connecting fails, then relays the answer to w. It runs in the
// server's handler goroutine from start to end: no other goroutine takes
// part in a request that is not upgraded. upstream receives the endpoint
// tried last, for the log. It reports whether the response must be aborted
// (its body broke off after the head went out).
func (p *Proxy) forward(w *statusRecorder, r *http.Request, be *backend, upstream *string) (abort bool) {
	n := len(be.endpoints)
	if n == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	out := &outboundRequest{in: r, scheme: "http", port: p.httpPortText, upgrade: upgradeOf(r.Header)}
	if r.TLS != nil {
		out.scheme, out.port = "https", p.httpsPortText
	}
	ctx := r.Context()
	// A client that goes away stops the request's I/O with the endpoint.
	stopWatch := context.AfterFunc(ctx, out.watchClient.clientGone)
	defer stopWatch()
	start := be.nextStart()
	var err error
	for i := range min(n, maxConnectAttempts) {
		endpoint := be.endpoints[(start+i)%n]
		*upstream = endpoint
		var c *upstreamConn
		var resp *http.Response
		c, resp, err = p.exchange(ctx, out, endpoint)
		if err == nil {
			return p.relay(w, out, c, resp)
		}
		var dial *dialError
		if !errors.As(err, &dial) || ctx.Err() != nil || out.bodyTouched {
			break
		}
	}
	p.answerFailure(w, r, err)
	return false
}

// exchange sends the request over a connection to endpoint and reads the
// response head. A reused connection the endpoint had already closed is
// replaced by a new one when the request can be sent again.
func (p *Proxy) exchange(ctx context.Context, out *outboundRequest, endpoint string) (*upstreamConn, *http.Response, error) {
	fresh := false
	for {
		c, err := p.upstreams.get(ctx, endpoint, fresh)
		if err != nil {
			return nil, nil, &dialError{endpoint: endpoint, err: err}
		}
		if c.reused && !out.replayable() && !c.stillOpen() {
			// Not safe to send twice: check the connection first.
			_ = c.Close()
			fresh = true
			continue
		}
		out.watchClient.attach(c.Conn)
		resp, err := c.roundTrip(out)
		if err == nil {
			return c, resp, nil
		}
		out.watchClient.detach()
		_ = c.Close()
		if errors.Is(err, errStaleConn) && ctx.Err() == nil {
			fresh = true
			continue
		}
		return nil, nil, err
	}
}

// roundTrip writes the request and reads the head of the final response.
// Informational responses other than 101 are passed over. The response is
// c's own, reused for its next request.
func (c *upstreamConn) roundTrip(out *outboundRequest) (*http.Response, error) {
	out.writeHead(c.bw)
	// A body follows the head in the same writes. Without one, a failed
	// write on a reused connection means the endpoint had closed it.
	if err := out.writeBody(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		if c.reused && !out.bodyTouched {
			return nil, fmt.Errorf("%w: %w", errStaleConn, err)
		}
		return nil, fmt.Errorf("send request to %s: %w", c.endpoint, err)
	}
	if _, err := c.br.Peek(1); err != nil {
		if c.reused && out.replayable() && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return nil, fmt.Errorf("%w: %w", errStaleConn, err)
		}
		return nil, fmt.Errorf("read response from %s: %w", c.endpoint, err)
	}
	for {
		resp, err := c.responses.read(c.br, out.in.Method)
		if err != nil {
			return nil, fmt.Errorf("read response from %s: %w", c.endpoint, err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// stillOpen reports whether an idle connection can carry a request: the
// endpoint has neither closed it nor sent anything unasked. It looks
// without blocking and without consuming data.
func (c *upstreamConn) stillOpen() bool {
	return c.br.Buffered() == 0 && peekConn(c.Conn, false) == peekEmpty
}

// relay copies the response to the client and keeps the connection for
// the next request when the exchange ended cleanly.
func (p *Proxy) relay(w *statusRecorder, out *outboundRequest, c *upstreamConn, resp *http.Response) (abort bool) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if out.upgrade == "" {
			out.watchClient.detach()
			_ = c.Close()
			p.log.Warn("upstream switched protocols unasked", "upstream", c.endpoint)
			w.WriteHeader(http.StatusBadGateway)
			return false
		}
		if out.watchClient.detach() {
			_ = c.Close()
			w.WriteHeader(statusClientClosed)
			return false
		}
		p.switchProtocols(w, out, c, resp)
		return false
	}
	dst := w.Header()
	connection := resp.Header["Connection"]
	for key, values := range resp.Header {
		if forwardable(key, connection) {
			dst[key] = values
		}
	}
	w.WriteHeader(resp.StatusCode)

	complete, upstreamFailed := copyBody(w, resp, c)
	clientStayed := !out.watchClient.detach()
	if !clientStayed && !complete {
		w.status = statusClientClosed
	}
	if complete {
		for key, values := range resp.Trailer {
			dst[http.TrailerPrefix+key] = values
		}
	}
	if complete && clientStayed && !resp.Close {
		p.upstreams.put(c)
	} else {
		_ = c.Close()
	}
	return upstreamFailed
}

// copyBody copies the response body to the client. A body without a length
// and server-sent events are flushed after every read; others when the
// endpoint has nothing more ready, so a small response leaves in one write
// with its head while a slow one still streams. It reports whether the body
// was read to its end and whether reading it failed.
func copyBody(w *statusRecorder, resp *http.Response, c *upstreamConn) (complete, upstreamFailed bool) {
	bufp := copyBuffers.Get()
	defer copyBuffers.Put(bufp)
	buf := *bufp
	always := resp.ContentLength < 0 || isEventStream(resp.Header)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return false, false
			}
			if always || (rerr == nil && c.br.Buffered() == 0) {
				if err := w.FlushError(); err != nil {
					return false, false
				}
			}
		}
		if rerr == io.EOF {
			return resp.Body.Close() == nil, false
		}
		if rerr != nil {
			return false, true
		}
	}
}

func isEventStream(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// answerFailure answers a request no endpoint took.
func (p *Proxy) answerFailure(w *statusRecorder, r *http.Request, err error) {
	var body *clientBodyError
	switch {
	case r.Context().Err() != nil:
		w.WriteHeader(statusClientClosed)
	case errors.As(err, &body):
		p.log.Debug("client request body failed", "host", r.Host, "path", r.URL.Path, "err", err)
		w.WriteHeader(http.StatusBadRequest)
	default:
		p.log.Warn("upstream request failed", "host", r.Host, "path", r.URL.Path, "err", err)
		w.WriteHeader(http.StatusBadGateway)
	}
}

// clientWatch cuts the I/O with the endpoint short when the client goes
// away, so a request waiting for a slow endpoint does not hold its
// connection; such a connection is not used again.
type clientWatch struct {
	mu   sync.Mutex
	conn net.Conn
	gone bool
}

// clientGone runs when the request's context ends.
func (cw *clientWatch) clientGone() {
	cw.mu.Lock()
	cw.gone = true
	c := cw.conn
	cw.mu.Unlock()
	if c != nil {
		_ = c.SetDeadline(aLongTimeAgo)
	}
}

// attach makes c the connection to cut.
func (cw *clientWatch) attach(c net.Conn) {
	cw.mu.Lock()
	cw.conn = c
	gone := cw.gone
	cw.mu.Unlock()
	if gone {
		_ = c.SetDeadline(aLongTimeAgo)
	}
}

// detach forgets the connection and reports whether the client went away
// while it was attached (its deadline may then be spoiled).
func (cw *clientWatch) detach() (gone bool) {
	cw.mu.Lock()
	cw.conn = nil
	gone = cw.gone
	cw.mu.Unlock()
	return gone
}
