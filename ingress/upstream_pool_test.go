package ingress

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"
)

// pipeConn is an upstream connection over an in-memory pipe; closed
// reports whether the pool closed it.
func pipeConn(t *testing.T, endpoint string) (c *upstreamConn, closed func() bool) {
	t.Helper()
	local, remote := net.Pipe()
	t.Cleanup(func() {
		_ = local.Close()
		_ = remote.Close()
	})
	c = &upstreamConn{Conn: local, endpoint: endpoint, br: bufio.NewReader(local), bw: bufio.NewWriter(local)}
	return c, func() bool {
		// Writing to a pipe whose other end is closed fails at once.
		_ = remote.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := remote.Write([]byte{0})
		return err != nil && !isTimeout(err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestUpstreamPoolKeepsOnlyKnownEndpoints(t *testing.T) {
	p := newUpstreamPool()
	p.retain(map[string]bool{"a:1": true, "b:1": true})
	a, aClosed := pipeConn(t, "a:1")
	b, bClosed := pipeConn(t, "b:1")
	stranger, strangerClosed := pipeConn(t, "c:1")
	p.put(a)
	p.put(b)
	p.put(stranger)
	if !strangerClosed() || p.idleCount("c:1") != 0 {
		t.Error("a connection to an endpoint outside the table was kept")
	}
	p.retain(map[string]bool{"a:1": true})
	if !bClosed() || p.idleCount("b:1") != 0 {
		t.Error("the connection to a removed endpoint stayed open")
	}
	if aClosed() || p.idleCount("a:1") != 1 {
		t.Error("the connection to a remaining endpoint was dropped")
	}
	got, err := p.get(context.Background(), "a:1", false)
	if err != nil || got != a || !got.reused {
		t.Fatalf("get = %p, %v; want the idle connection, marked reused", got, err)
	}
	p.close()
	p.put(got)
	if !aClosed() {
		t.Error("a connection returned after close was kept")
	}
}

func TestUpstreamPoolSweepsIdleConnections(t *testing.T) {
	p := newUpstreamPool()
	old, oldClosed := pipeConn(t, "a:1")
	fresh, freshClosed := pipeConn(t, "a:1")
	p.put(old)
	p.put(fresh)
	old.idleSince = time.Now().Add(-upstreamIdleTimeout - time.Second)
	p.sweep(time.Now())
	if !oldClosed() || freshClosed() || p.idleCount("a:1") != 1 {
		t.Errorf("after sweep: old closed %v, fresh closed %v, %d idle; want only the old one closed",
			oldClosed(), freshClosed(), p.idleCount("a:1"))
	}
}

func TestUpstreamPoolBoundsIdleConnections(t *testing.T) {
	p := newUpstreamPool()
	for range maxIdlePerEndpoint {
		c, _ := pipeConn(t, "a:1")
		p.put(c)
	}
	extra, extraClosed := pipeConn(t, "a:1")
	p.put(extra)
	if !extraClosed() || p.idleCount("a:1") != maxIdlePerEndpoint {
		t.Errorf("%d idle, extra closed %v; want the pool bounded at %d", p.idleCount("a:1"), extraClosed(), maxIdlePerEndpoint)
	}
}

// idleCount is the number of idle connections to endpoint.
func (p *upstreamPool) idleCount(endpoint string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle[endpoint])
}
