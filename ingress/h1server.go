package ingress

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Server is kite's HTTP/1.1 server for the plain-HTTP listener. Each
// connection is served by one goroutine that reads a request, runs the
// handler and writes the response, with no goroutine of its own per
// request: net/http's server costs a background reader, a context and a
// header copy per request, a large part of a proxied request's CPU.
// HTTPS stays on net/http, which also speaks HTTP/2.
type h1Server struct {
	handler http.Handler
	log     *slog.Logger
	// headerTimeout bounds reading a request head; idleTimeout how long a
	// kept-alive connection may wait for its next request.
	headerTimeout, idleTimeout time.Duration
	// maxHeaderBytes bounds a request head.
	maxHeaderBytes int

	mu    sync.Mutex
	conns map[*h1Conn]struct{}
	ln    net.Listener
	// closing is set by shutdown: connections finish their request and
	// close instead of waiting for another.
	closing atomic.Bool
	// sweeping is set while the sweep runs (while there are connections).
	sweeping bool
	// clock is the sweep's coarse time, in sweep ticks since start.
	clock atomic.Uint64
}

// serve accepts connections on ln until it is closed.
func (s *h1Server) serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	if s.conns == nil {
		s.conns = map[*h1Conn]struct{}{}
	}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors or a transient failure: wait, as
				// net/http does, rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newH1Conn(s, conn)
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			_ = conn.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		if !s.sweeping {
			s.sweeping = true
			go s.sweep()
		}
		s.mu.Unlock()
		go c.serve()
	}
}

// forget drops a connection that ended or was hijacked.
func (s *h1Server) forget(c *h1Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// shutdown stops accepting, closes idle connections, and waits for the
// others to finish their request until ctx ends; then it closes them.
func (s *h1Server) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				_ = c.conn.Close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// closeIdle closes the connections waiting for a request and returns how
// many connections remain.
func (s *h1Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.phase.Load()&phaseMask == phaseIdle {
			_ = c.conn.Close()
		}
	}
	return len(s.conns)
}
