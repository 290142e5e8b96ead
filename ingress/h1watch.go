package ingress

import (
	"sync"
	"time"
)

// clientWatchDelay is how long a request runs before its client connection
// is watched for the client going away. Most requests end sooner and cost
// no watching at all; a slow one costs a goroutine while it lasts.
const clientWatchDelay = 100 * time.Millisecond

// clientGoneWatch ends a connection's context when the client closes the
// connection while its request is still being answered, so the handler
// stops waiting for the endpoint (the access log then says 499). The
// server's sweep starts it for requests older than clientWatchDelay.
type clientGoneWatch struct {
	c  *h1Conn
	mu sync.Mutex
	// handling is set while the handler runs; starting once a watcher
	// goroutine was started; watching while it waits on the connection,
	// which closes done when it returns.
	handling, starting, watching bool
	done                         chan struct{}
}

// start marks the request about to be handled as one to watch.
func (w *clientGoneWatch) start() {
	w.mu.Lock()
	w.handling = true
	w.mu.Unlock()
}

// poke starts a watcher for the request being handled, unless one runs.
func (w *clientGoneWatch) poke() {
	w.mu.Lock()
	startNow := w.handling && !w.starting && !w.watching
	w.starting = w.starting || startNow
	w.mu.Unlock()
	if startNow {
		go w.run()
	}
}

// stop ends the watch and waits for a running watcher to return, so the
// connection is the server's alone again.
func (w *clientGoneWatch) stop() {
	w.mu.Lock()
	w.handling = false
	watching, done := w.watching, w.done
	if watching {
		_ = w.c.conn.SetReadDeadline(aLongTimeAgo)
	}
	w.mu.Unlock()
	if watching {
		<-done
		_ = w.c.conn.SetReadDeadline(time.Time{})
		w.mu.Lock()
		w.watching = false
		w.mu.Unlock()
	}
}

// run waits until the client's side of the connection shows an end or
// more data, while the request is handled.
func (w *clientGoneWatch) run() {
	c := w.c
	w.mu.Lock()
	w.starting = false
	if !w.handling || w.watching {
		w.mu.Unlock()
		return
	}
	if !c.body.finished.Load() {
		// The handler still reads the body from the connection; the next
		// sweep looks again.
		w.mu.Unlock()
		return
	}
	if c.br.Buffered() > 0 {
		// The client sent its next request already: it is there.
		w.mu.Unlock()
		return
	}
	w.watching = true
	w.done = make(chan struct{})
	done := w.done
	w.mu.Unlock()
	defer close(done)
	// Data (a pipelined request) or an interrupted wait mean the client
	// is still there.
	if peekConn(c.conn, true) == peekClosed {
		c.cancel()
	}
}
