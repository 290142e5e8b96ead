package ingress

import "time"

// A connection's phase says what it is doing and since which tick of the
// server's sweep; the sweep applies the timeouts and starts client watches
// from it. This replaces a read deadline and a timer set and stopped for
// every request, which were a noticeable part of a request's CPU, with an
// atomic store per step and one goroutine per server that looks at all
// connections a few times a second.
const (
	phaseIdle     uint64 = iota // waiting for the next request
	phaseHead                   // reading a request head
	phaseHandling               // running the handler
	phaseExpired                // timed out: the connection is closing
	phaseMask     uint64 = 3
	phaseBits            = 2
)

// sweepTick is the sweep's period, the precision of the timeouts and of
// clientWatchDelay.
const sweepTick = 50 * time.Millisecond

// enter moves the connection to phase p. It reports false when the sweep
// expired the connection first.
func (c *h1Conn) enter(p uint64) bool {
	old := c.phase.Load()
	return old&phaseMask != phaseExpired && c.phase.CompareAndSwap(old, phaseAt(c.srv.clock.Load(), p))
}

// phaseAt is the phase word for phase p entered at tick.
func phaseAt(tick, p uint64) uint64 { return tick<<phaseBits | p }

// sweep runs while the server has connections: it expires connections
// idle or reading a head for too long, and watches the clients of requests
// running for more than clientWatchDelay.
func (s *h1Server) sweep() {
	ticker := time.NewTicker(sweepTick)
	defer ticker.Stop()
	idleTicks := uint64(s.idleTimeout / sweepTick)
	headTicks := uint64(s.headerTimeout / sweepTick)
	watchTicks := uint64(clientWatchDelay / sweepTick)
	for range ticker.C {
		now := s.clock.Add(1)
		s.mu.Lock()
		if len(s.conns) == 0 {
			s.sweeping = false
			s.mu.Unlock()
			return
		}
		for c := range s.conns {
			state := c.phase.Load()
			age := now - state>>phaseBits
			switch phase := state & phaseMask; {
			case phase == phaseIdle && age > idleTicks, phase == phaseHead && age > headTicks:
				if c.phase.CompareAndSwap(state, state|phaseExpired) {
					// The connection's read returns at once and it closes.
					_ = c.conn.SetReadDeadline(aLongTimeAgo)
				}
			case phase == phaseHandling && age >= watchTicks:
				c.watch.poke()
			}
		}
		s.mu.Unlock()
	}
}
