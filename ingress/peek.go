package ingress

import (
	"net"
	"syscall"
)

// peekState is what the receive side of a connection holds.
type peekState int

const (
	peekEmpty  peekState = iota // nothing yet (or the wait was cut short)
	peekData                    // bytes are waiting
	peekClosed                  // the peer closed or reset the connection
)

// peekConn looks at conn's receive side without consuming anything. With
// wait it blocks until something arrives or the read deadline passes;
// without, it answers at once. Both the idle upstream check and the
// client-gone watch ask this.
func peekConn(conn net.Conn, wait bool) peekState {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return peekEmpty
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return peekEmpty
	}
	state := peekEmpty
	var probe [1]byte
	_ = raw.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), probe[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return !wait // nothing yet: done, or wait for readiness
			case err != nil || n == 0:
				state = peekClosed
			default:
				state = peekData
			}
			return true
		}
	})
	return state
}
