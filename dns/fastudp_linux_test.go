package dns

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// newTestFastReader serves a loopback socket with a fastReader over cache
// at a fixed generation, and returns a client connected to it.
func newTestFastReader(t *testing.T, cache *answerCache) (*fastReader, *net.UDPConn) {
	t.Helper()
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	client, err := net.DialUDP("udp", nil, server.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	batch, err := newUDPBatch(server)
	if err != nil {
		t.Fatal(err)
	}
	return &fastReader{
		batch:      batch,
		answers:    cache,
		generation: func() uint64 { return 1 },
		log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		key:        make([]byte, 0, maxKeyLen),
	}, client
}

func TestFastReader(t *testing.T) {
	cache := newAnswerCache(answerCacheEntries, answerCacheBytes)
	const name = "web.default.svc.cluster.local."
	hit := packQuery(t, 0, name, mdns.TypeA, -1, false)
	_, key, _ := wireQueryKey(hit, nil)
	reply := new(mdns.Msg)
	reply.SetReply(func() *mdns.Msg { m := new(mdns.Msg); m.SetQuestion(name, mdns.TypeA); return m }())
	reply.Answer = append(reply.Answer, mustRR(t, name+" 5 IN A 10.43.0.20"))
	packed, err := reply.Pack()
	if err != nil {
		t.Fatal(err)
	}
	cache.store(key, 1, packed)
	r, client := newTestFastReader(t, cache)

	// Hits are answered inside the reader, under the query's ID, and
	// allocate nothing on the way from socket to socket.
	buf := make([]byte, 1024)
	var id uint16
	allocs := testing.AllocsPerRun(200, func() {
		id++
		binary.BigEndian.PutUint16(hit, id)
		if _, err := client.Write(hit); err != nil {
			t.Fatal(err)
		}
		if err := r.serveBatch(); err != nil {
			t.Fatal(err)
		}
		n, err := client.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint16(buf) != id || !bytes.Equal(buf[2:n], packed[2:]) {
			t.Fatalf("reply %x, want the cached one under ID %d", buf[:n], id)
		}
	})
	if allocs != 0 {
		t.Errorf("a cache hit allocates %.1f times", allocs)
	}
	if len(r.misses) != 0 {
		t.Errorf("%d hits were passed on as misses", len(r.misses))
	}

	// Misses go to miekg/dns one at a time, with their sender.
	misses := [][]byte{
		packQuery(t, 1, "other.default.svc.cluster.local.", mdns.TypeA, -1, false),
		packQuery(t, 2, name, mdns.TypeA, 1232, false), // another key
		{1, 2, 3}, // not even a header: miekg/dns decides what to do with it
	}
	for _, m := range misses {
		if _, err := client.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range misses {
		got, from, err := r.ReadPacketConn(nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || from.String() != client.LocalAddr().String() {
			t.Errorf("miss %d: %x from %v, want %x from %v", i, got, from, want, client.LocalAddr())
		}
	}
}
