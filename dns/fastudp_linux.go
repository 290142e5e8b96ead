package dns

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"time"

	mdns "github.com/miekg/dns"
)

// fastUDPConn is a UDP socket with the fast path. Hiding the *net.UDPConn
// type makes miekg/dns read through fastReader (its PacketConnReader hook)
// rather than reading one datagram per call itself.
type fastUDPConn struct{ *net.UDPConn }

// fastReader runs inside miekg/dns's read loop, one per socket: it receives
// queries in batches, answers those the answer cache holds and sends those
// replies in one batch, and hands only the rest to miekg/dns, which serves
// each in a goroutine of its own as before. Answering a hit allocates
// nothing.
type fastReader struct {
	mdns.Reader // miekg/dns's own, for the interface's TCP and UDPConn methods
	batch       *udpBatch
	answers     *answerCache
	generation  func() uint64
	log         *slog.Logger
	key         []byte
	misses      []missedQuery
	next        int // the first miss not yet handed to miekg/dns
}

// missedQuery is a query for the slow path, copied out of the batch buffers.
type missedQuery struct {
	packet []byte
	sender net.Addr
}

// enableFastPath makes srv answer cache hits on its UDP socket through a
// fastReader. Sockets bound to a wildcard address keep miekg/dns's own
// reads: their replies must leave from the address each query came to,
// which takes per-packet control messages the batches do not carry.
func (s *Server) enableFastPath(srv *mdns.Server) error {
	conn, ok := srv.PacketConn.(*net.UDPConn)
	if !ok {
		return nil
	}
	if local, ok := conn.LocalAddr().(*net.UDPAddr); !ok || local.IP.IsUnspecified() {
		return nil
	}
	batch, err := newUDPBatch(conn)
	if err != nil {
		return fmt.Errorf("dns: fast path on %s: %w", conn.LocalAddr(), err)
	}
	srv.PacketConn = fastUDPConn{conn}
	srv.DecorateReader = func(base mdns.Reader) mdns.Reader {
		return &fastReader{
			Reader:     base,
			batch:      batch,
			answers:    s.answers,
			generation: s.resolver.model.generation,
			log:        s.log,
			key:        make([]byte, 0, maxKeyLen),
		}
	}
	return nil
}

// ReadPacketConn returns the next query the cache cannot answer. It sets
// no read deadline of its own: miekg/dns sets one in the past to stop the
// loop at shutdown, and that must not be overwritten.
func (r *fastReader) ReadPacketConn(net.PacketConn, time.Duration) ([]byte, net.Addr, error) {
	for r.next == len(r.misses) {
		r.misses, r.next = r.misses[:0], 0
		if err := r.serveBatch(); err != nil {
			return nil, nil, err
		}
	}
	m := r.misses[r.next]
	r.misses[r.next] = missedQuery{}
	r.next++
	return m.packet, m.sender, nil
}

// serveBatch receives one batch, replies to the cache hits and queues the
// misses.
func (r *fastReader) serveBatch() error {
	n, err := r.batch.read()
	if err != nil {
		return err
	}
	generation := r.generation()
	for i := range n {
		pkt := r.batch.packet(i)
		if pkt == nil {
			continue // longer than any query this server answers
		}
		if reply, ok := r.answers.answer(pkt, generation, r.key); ok {
			r.batch.queueReply(i, reply)
			continue
		}
		if sender, ok := r.batch.sender(i); ok {
			r.misses = append(r.misses, missedQuery{packet: bytes.Clone(pkt), sender: sender})
		}
	}
	if err := r.batch.flush(); err != nil {
		r.log.Debug("send cached replies", "error", err)
	}
	return nil
}
