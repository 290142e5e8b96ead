package ingress

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

const (
	// maxIdlePerEndpoint bounds the keep-alive connections kept per
	// endpoint; a busy endpoint needs about one per concurrent request.
	maxIdlePerEndpoint = 128
	// upstreamIdleTimeout is how long an unused upstream connection is kept.
	upstreamIdleTimeout = 90 * time.Second
	// upstreamDialTimeout bounds connecting to an endpoint.
	upstreamDialTimeout = 5 * time.Second
	// upstreamBufferSize is the size of each connection's read and write
	// buffers: room for the request and response heads of ordinary requests.
	upstreamBufferSize = 4 << 10
)

// upstreamConn is one HTTP/1.1 connection to an endpoint with its buffers;
// it is used by one request at a time.
type upstreamConn struct {
	net.Conn
	endpoint string
	br       *bufio.Reader
	bw       *bufio.Writer
	// reused is true when the connection served a request before this one,
	// so the endpoint may have closed it while it was idle.
	reused    bool
	idleSince time.Time
	// responses reads the responses, reusing what they are read into.
	responses responseReader
}

// upstreamPool keeps idle keep-alive connections per endpoint. Requests
// take the most recently used one, so the connections an endpoint may have
// timed out sink to the bottom and are closed by sweep.
type upstreamPool struct {
	dialer net.Dialer
	mu     sync.Mutex
	idle   map[string][]*upstreamConn
	// known is the endpoints of the current table (nil before the first
	// one): connections to others are not kept.
	known  map[string]bool
	closed bool
}

func newUpstreamPool() *upstreamPool {
	return &upstreamPool{
		dialer: net.Dialer{Timeout: upstreamDialTimeout, KeepAlive: 30 * time.Second},
		idle:   map[string][]*upstreamConn{},
	}
}

// get returns an idle connection to endpoint, or dials a new one when there
// is none or fresh is set.
func (p *upstreamPool) get(ctx context.Context, endpoint string, fresh bool) (*upstreamConn, error) {
	if !fresh {
		p.mu.Lock()
		if l := p.idle[endpoint]; len(l) > 0 {
			c := l[len(l)-1]
			l[len(l)-1] = nil
			p.idle[endpoint] = l[:len(l)-1]
			p.mu.Unlock()
			c.reused = true
			return c, nil
		}
		p.mu.Unlock()
	}
	conn, err := p.dialer.DialContext(ctx, "tcp", endpoint)
	if err != nil {
		return nil, err
	}
	return &upstreamConn{
		Conn:     conn,
		endpoint: endpoint,
		br:       bufio.NewReaderSize(conn, upstreamBufferSize),
		bw:       bufio.NewWriterSize(conn, upstreamBufferSize),
	}, nil
}

// put keeps c for the next request to its endpoint, or closes it when the
// pool is full, stopped or the endpoint is gone from the table.
func (p *upstreamPool) put(c *upstreamConn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	l := p.idle[c.endpoint]
	keep := !p.closed && len(l) < maxIdlePerEndpoint && (p.known == nil || p.known[c.endpoint])
	if keep {
		p.idle[c.endpoint] = append(l, c)
	}
	p.mu.Unlock()
	if !keep {
		_ = c.Close()
	}
}

// retain closes the idle connections of endpoints that are not in known and
// keeps none to them from now on.
func (p *upstreamPool) retain(known map[string]bool) {
	var drop []*upstreamConn
	p.mu.Lock()
	p.known = known
	for endpoint, l := range p.idle {
		if !known[endpoint] {
			drop = append(drop, l...)
			delete(p.idle, endpoint)
		}
	}
	p.mu.Unlock()
	closeAll(drop)
}

// sweep closes connections idle for longer than upstreamIdleTimeout.
func (p *upstreamPool) sweep(now time.Time) {
	var drop []*upstreamConn
	p.mu.Lock()
	for endpoint, l := range p.idle {
		// Oldest first: the stale ones are a prefix.
		n := 0
		for n < len(l) && now.Sub(l[n].idleSince) > upstreamIdleTimeout {
			n++
		}
		if n == 0 {
			continue
		}
		drop = append(drop, l[:n]...)
		if n == len(l) {
			delete(p.idle, endpoint)
		} else {
			p.idle[endpoint] = append(l[:0:0], l[n:]...)
		}
	}
	p.mu.Unlock()
	closeAll(drop)
}

// sweepLoop runs sweep until ctx ends.
func (p *upstreamPool) sweepLoop(ctx context.Context) {
	tick := time.NewTicker(upstreamIdleTimeout / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.sweep(now)
		}
	}
}

// close closes every idle connection; connections in use are closed when
// their requests end.
func (p *upstreamPool) close() {
	var drop []*upstreamConn
	p.mu.Lock()
	p.closed = true
	for _, l := range p.idle {
		drop = append(drop, l...)
	}
	p.idle = map[string][]*upstreamConn{}
	p.mu.Unlock()
	closeAll(drop)
}

func closeAll(conns []*upstreamConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// dialError marks a failure to connect: nothing was sent, so the request
// may go to another endpoint.
type dialError struct {
	endpoint string
	err      error
}

func (e *dialError) Error() string { return fmt.Sprintf("connect to %s: %v", e.endpoint, e.err) }
func (e *dialError) Unwrap() error { return e.err }
