package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// packQuery packs a query for name and qtype with the given ID; edns < 0
// means no OPT record, otherwise an OPT with that UDP size.
func packQuery(t *testing.T, id uint16, name string, qtype uint16, edns int, do bool) []byte {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	if edns >= 0 {
		m.SetEdns0(uint16(edns), do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWireQueryKey(t *testing.T) {
	const name = "web.default.svc.cluster.local."
	plain := func(t *testing.T) []byte { return packQuery(t, 7, name, mdns.TypeA, -1, false) }
	withEDNS := func(t *testing.T) []byte { return packQuery(t, 7, name, mdns.TypeA, 1232, false) }
	setFlag := func(b []byte, bit uint16) []byte {
		binary.BigEndian.PutUint16(b[2:], binary.BigEndian.Uint16(b[2:])|bit)
		return b
	}
	tests := []struct {
		name  string
		pkt   func(t *testing.T) []byte
		plain bool
	}{
		{"A with RD", plain, true},
		{"A without RD", func(t *testing.T) []byte {
			b := plain(t)
			binary.BigEndian.PutUint16(b[2:], 0)
			return b
		}, true},
		{"AD and CD set", func(t *testing.T) []byte { return setFlag(plain(t), flagAD|flagCD) }, true},
		{"mixed case", func(t *testing.T) []byte {
			return packQuery(t, 7, "Web.DEFAULT.svc.cluster.local.", mdns.TypeSRV, -1, false)
		}, true},
		{"EDNS0 1232", withEDNS, true},
		{"EDNS0 4096 with DO", func(t *testing.T) []byte { return packQuery(t, 7, name, mdns.TypeAAAA, 4096, true) }, true},
		{"EDNS0 with a cookie option", func(t *testing.T) []byte {
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"})
			b, _ := m.Pack()
			return b
		}, false},
		{"EDNS version 1", func(t *testing.T) []byte {
			b := withEDNS(t)
			b[len(b)-5] = 1
			return b
		}, false},
		{"response bit", func(t *testing.T) []byte { return setFlag(plain(t), 1<<15) }, false},
		{"NOTIFY opcode", func(t *testing.T) []byte { return setFlag(plain(t), uint16(mdns.OpcodeNotify)<<11) }, false},
		{"two questions", func(t *testing.T) []byte {
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			b, _ := m.Pack()
			return b
		}, false},
		{"an answer record", func(t *testing.T) []byte {
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			m.Answer = append(m.Answer, mustRR(t, name+" 5 IN A 10.0.0.1"))
			b, _ := m.Pack()
			return b
		}, false},
		{"trailing bytes", func(t *testing.T) []byte { return append(plain(t), 0) }, false},
		{"question cut short", func(t *testing.T) []byte { b := plain(t); return b[:len(b)-1] }, false},
		{"compression pointer in the question", func(t *testing.T) []byte {
			b := plain(t)[:headerLen]
			return append(b, 0xc0, 0x0c, 0, 1, 0, 1)
		}, false},
		{"header only", func(t *testing.T) []byte { return plain(t)[:headerLen] }, false},
		{"short header", func(t *testing.T) []byte { return plain(t)[:5] }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := tt.pkt(t)
			wireName, key, ok := wireQueryKey(pkt, make([]byte, 0, maxKeyLen))
			if ok != tt.plain {
				t.Fatalf("wireQueryKey plain = %v, want %v", ok, tt.plain)
			}
			if !ok {
				return
			}
			req := new(mdns.Msg)
			if err := req.Unpack(pkt); err != nil {
				t.Fatal(err)
			}
			msgKey, ok := msgQueryKey(req)
			if !ok || !bytes.Equal(key, msgKey) {
				t.Errorf("key from the wire %x, from the message %x (plain %v)", key, msgKey, ok)
			}
			if !bytes.Equal(wireName, pkt[headerLen:headerLen+len(wireName)]) {
				t.Errorf("name %x is not the question's", wireName)
			}
		})
	}

	// Keys ignore the name's case and nothing else.
	key := func(pkt []byte) string {
		_, k, _ := wireQueryKey(pkt, nil)
		return string(k)
	}
	base := key(packQuery(t, 1, name, mdns.TypeA, -1, false))
	if key(packQuery(t, 2, "WEB.Default.svc.cluster.LOCAL.", mdns.TypeA, -1, false)) != base {
		t.Error("names differing in case have different keys")
	}
	for what, other := range map[string][]byte{
		"type":     packQuery(t, 1, name, mdns.TypeAAAA, -1, false),
		"EDNS0":    packQuery(t, 1, name, mdns.TypeA, 512, false),
		"UDP size": packQuery(t, 1, name, mdns.TypeA, 4096, false),
		"DO":       packQuery(t, 1, name, mdns.TypeA, 512, true),
		"RD":       func() []byte { b := packQuery(t, 1, name, mdns.TypeA, -1, false); b[2] &^= 1; return b }(),
		"CD":       setFlag(packQuery(t, 1, name, mdns.TypeA, -1, false), flagCD),
	} {
		if key(other) == base {
			t.Errorf("queries differing in %s share a key", what)
		}
	}
}

func TestAnswerCacheGenerationsAndBound(t *testing.T) {
	c := newAnswerCache(2*answerCacheShards, answerCacheShards*1024) // two entries or 1 KiB per shard
	pkt := packQuery(t, 9, "web.default.svc.cluster.local.", mdns.TypeA, -1, false)
	_, key, _ := wireQueryKey(pkt, nil)
	reply := append([]byte{0, 0}, pkt[2:]...) // any bytes starting with the question will do
	c.store(key, 1, reply)
	if got, ok := c.answer(pkt, 1, make([]byte, 0, maxKeyLen)); !ok || !bytes.Equal(got, reply) {
		t.Fatalf("answer at the stored generation: %v %x", ok, got)
	}
	if _, ok := c.answer(pkt, 2, make([]byte, 0, maxKeyLen)); ok {
		t.Error("answer served after the model changed")
	}
	other := packQuery(t, 9, "WEB.default.svc.cluster.local.", mdns.TypeA, -1, false)
	if _, ok := c.answer(other, 1, make([]byte, 0, maxKeyLen)); ok {
		t.Error("answer served to a query whose name differs in case from the cached reply's")
	}

	for i := range 1000 {
		c.store([]byte(fmt.Sprint(i)), 3, reply)
	}
	if n, _ := c.size(); n > 2*answerCacheShards {
		t.Errorf("cache holds %d entries, bound %d", n, 2*answerCacheShards)
	}
	if _, ok := c.lookup(key, 1); ok {
		t.Error("stale entry kept over current ones")
	}

	// Large replies count by their bytes; one larger than a shard's share
	// is not kept at all.
	big := make([]byte, 600)
	for i := range 100 {
		c.store([]byte(fmt.Sprint("big", i)), 3, big)
	}
	if _, bytes := c.size(); bytes > answerCacheShards*1024 {
		t.Errorf("cache holds %d bytes, bound %d", bytes, answerCacheShards*1024)
	}
	c.store([]byte("huge"), 3, make([]byte, 2048))
	if _, ok := c.lookup([]byte("huge"), 3); ok {
		t.Error("a reply larger than a shard's share was kept")
	}
	// Replacing an entry does not count it twice.
	c.store([]byte("again"), 3, big)
	before, beforeBytes := c.size()
	c.store([]byte("again"), 3, big)
	if n, b := c.size(); n != before || b != beforeBytes {
		t.Errorf("replacing an entry grew the cache from %d/%d to %d/%d", before, beforeBytes, n, b)
	}
}

func TestAnswerCacheHitAllocatesNothing(t *testing.T) {
	c := newAnswerCache(answerCacheEntries, answerCacheBytes)
	pkt := packQuery(t, 9, "web.default.svc.cluster.local.", mdns.TypeA, 1232, false)
	_, key, _ := wireQueryKey(pkt, nil)
	c.store(key, 1, append([]byte(nil), pkt...))
	scratch := make([]byte, 0, maxKeyLen)
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := c.answer(pkt, 1, scratch); !ok {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Errorf("a cache hit allocates %.1f times", n)
	}
}

// rawQuery sends pkt over UDP and returns the raw reply.
func rawQuery(t *testing.T, addr string, pkt []byte) []byte {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return buf[:n]
}

// TestCachedRepliesMatchTheSlowPath asks each question twice over UDP: the
// first reply comes from the resolver and fills the cache, the second from
// the cache, and both must be byte for byte the same but for the ID.
func TestCachedRepliesMatchTheSlowPath(t *testing.T) {
	client := fake.NewClientset(append(fixtureObjects(), bigHeadless(100)...)...)
	s, addr := startServer(t, client, startUpstreams(t))
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		edns   int
		do     bool
		cached bool
		check  func(*mdns.Msg) bool
	}{
		{"A", "web.default.svc.cluster.local.", mdns.TypeA, -1, false, true,
			func(r *mdns.Msg) bool { return len(r.Answer) == 1 && r.Answer[0].(*mdns.A).A.String() == "10.43.0.20" }},
		{"AAAA", "dual.default.svc.cluster.local.", mdns.TypeAAAA, -1, false, true,
			func(r *mdns.Msg) bool { return len(r.Answer) == 1 && r.Answer[0].Header().Rrtype == mdns.TypeAAAA }},
		{"SRV", "_pg._tcp.db.default.svc.cluster.local.", mdns.TypeSRV, 1232, false, true,
			func(r *mdns.Msg) bool { return len(r.Answer) == 3 && len(r.Extra) == 4 }},
		{"NXDOMAIN", "nope.default.svc.cluster.local.", mdns.TypeA, -1, false, true,
			func(r *mdns.Msg) bool { return r.Rcode == mdns.RcodeNameError && len(r.Ns) == 1 }},
		{"NODATA", "web.default.svc.cluster.local.", mdns.TypeAAAA, 1232, false, true,
			func(r *mdns.Msg) bool { return r.Rcode == mdns.RcodeSuccess && len(r.Answer) == 0 && len(r.Ns) == 1 }},
		{"mixed case", "Web.Default.SVC.cluster.local.", mdns.TypeA, -1, false, true,
			func(r *mdns.Msg) bool { return r.Answer[0].Header().Name == "Web.Default.SVC.cluster.local." }},
		{"EDNS0 4096 with DO", "web.default.svc.cluster.local.", mdns.TypeA, 4096, true, true,
			func(r *mdns.Msg) bool { return r.IsEdns0() != nil && r.IsEdns0().UDPSize() == serverUDPSize }},
		{"truncated without EDNS0", "big.default.svc.cluster.local.", mdns.TypeA, -1, false, true,
			func(r *mdns.Msg) bool { return r.Truncated && len(r.Answer) < 100 }},
		{"whole with EDNS0 4096", "big.default.svc.cluster.local.", mdns.TypeA, 4096, false, true,
			func(r *mdns.Msg) bool { return !r.Truncated && len(r.Answer) == 100 }},
		{"PTR of a cluster IP", "20.0.43.10.in-addr.arpa.", mdns.TypePTR, -1, false, true,
			func(r *mdns.Msg) bool { return len(r.Answer) == 1 }},
		{"ExternalName to an outside name", "ext.default.svc.cluster.local.", mdns.TypeA, -1, false, false,
			func(r *mdns.Msg) bool { return r.Answer[0].Header().Rrtype == mdns.TypeCNAME }},
		{"ExternalName inside the zone", "extin.default.svc.cluster.local.", mdns.TypeA, -1, false, true,
			func(r *mdns.Msg) bool { return len(r.Answer) == 2 }},
		{"forwarded", "example.org.", mdns.TypeA, -1, false, false,
			func(r *mdns.Msg) bool { return len(r.Answer) == 1 && !r.Authoritative }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := rawQuery(t, addr, packQuery(t, 0x1111, tt.qname, tt.qtype, tt.edns, tt.do))
			second := rawQuery(t, addr, packQuery(t, 0x2222, tt.qname, tt.qtype, tt.edns, tt.do))
			msg := new(mdns.Msg)
			if err := msg.Unpack(second); err != nil {
				t.Fatal(err)
			}
			if msg.Id != 0x2222 || !tt.check(msg) {
				t.Fatalf("reply %v", msg)
			}
			if !bytes.Equal(first[2:], second[2:]) {
				t.Errorf("second reply differs from the first:\n%x\n%x", first, second)
			}
			cached, ok := s.answers.answer(packQuery(t, 0x3333, tt.qname, tt.qtype, tt.edns, tt.do),
				s.resolver.model.generation(), make([]byte, 0, maxKeyLen))
			if ok != tt.cached {
				t.Fatalf("cached = %v, want %v", ok, tt.cached)
			}
			if ok && !bytes.Equal(cached[2:], first[2:]) {
				t.Errorf("cached bytes differ from the resolver's reply:\n%x\n%x", cached, first)
			}
		})
	}
}

// TestFastPathAnswersFromTheCache shows that cached replies reach clients
// without the resolver: a reply planted in the cache is what the client
// gets, under its own ID, until the model changes.
func TestFastPathAnswersFromTheCache(t *testing.T) {
	client := fake.NewClientset(fixtureObjects()...)
	s, addr := startServer(t, client, startUpstreams(t))
	const name = "web.default.svc.cluster.local."
	rawQuery(t, addr, packQuery(t, 1, name, mdns.TypeA, -1, false))

	planted := new(mdns.Msg)
	planted.SetReply(func() *mdns.Msg { m := new(mdns.Msg); m.SetQuestion(name, mdns.TypeA); return m }())
	planted.Answer = append(planted.Answer, mustRR(t, name+" 5 IN A 192.0.2.99"))
	packed, err := planted.Pack()
	if err != nil {
		t.Fatal(err)
	}
	pkt := packQuery(t, 0x4242, name, mdns.TypeA, -1, false)
	_, key, _ := wireQueryKey(pkt, nil)
	s.answers.store(key, s.resolver.model.generation(), packed)

	r := new(mdns.Msg)
	if err := r.Unpack(rawQuery(t, addr, pkt)); err != nil {
		t.Fatal(err)
	}
	if r.Id != 0x4242 || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.99" {
		t.Fatalf("reply %v, want the planted answer under ID 0x4242", r)
	}

	// A change to the model retires every cached reply.
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), namespace("late"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resolver's answer again", func() bool {
		r := new(mdns.Msg)
		if err := r.Unpack(rawQuery(t, addr, pkt)); err != nil {
			t.Fatal(err)
		}
		return len(r.Answer) == 1 && r.Answer[0].(*mdns.A).A.String() == "10.43.0.20"
	})
}
