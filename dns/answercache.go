package dns

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"sync"

	mdns "github.com/miekg/dns"
)

// The answer cache keeps the packed UDP replies to plain queries about the
// cluster, so a repeated question is answered by copying bytes and setting
// the ID, without unpacking or packing a message. An entry is valid only for
// the model generation it was built from: any change to the model makes
// every entry stale at once.

const (
	// answerCacheEntries bounds the cache; the cluster zone of a large
	// cluster, with search-path variants, fits in a few thousand names.
	answerCacheEntries = 16384
	// answerCacheBytes bounds the memory the entries hold: a few replies to
	// large headless Services must not be able to take much more.
	answerCacheBytes  = 8 << 20
	answerCacheShards = 16

	headerLen = 12

	// Header flag bits (RFC 1035 4.1.1, RFC 4035 3.2) a plain query may carry.
	flagRD = 1 << 8
	flagAD = 1 << 5
	flagCD = 1 << 4

	// Key flag bits: what of the header and OPT record shapes the reply.
	keyRD   = 1 << 0
	keyCD   = 1 << 1
	keyEDNS = 1 << 2
	keyDO   = 1 << 3

	// maxKeyLen is a wire name (at most 255 bytes) plus type, class, key
	// flags and UDP size.
	maxKeyLen = 255 + 2 + 2 + 1 + 2
)

// answerCache maps query keys to packed replies. It is safe for concurrent
// use; shards keep the per-socket readers from contending on one lock.
type answerCache struct {
	seed          maphash.Seed
	perShard      int
	perShardBytes int
	shards        [answerCacheShards]answerShard
}

type answerShard struct {
	mu      sync.RWMutex
	entries map[string]cachedAnswer
	bytes   int // keys and replies
}

// cachedAnswer is a packed reply and the model generation it answers for.
type cachedAnswer struct {
	generation uint64
	reply      []byte // never modified once stored
}

func newAnswerCache(entries, bytes int) *answerCache {
	c := &answerCache{
		seed:          maphash.MakeSeed(),
		perShard:      max(1, entries/answerCacheShards),
		perShardBytes: bytes / answerCacheShards,
	}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]cachedAnswer)
	}
	return c
}

func (c *answerCache) shard(key []byte) *answerShard {
	return &c.shards[maphash.Bytes(c.seed, key)%answerCacheShards]
}

// lookup returns the reply stored under key if it was built at generation.
func (c *answerCache) lookup(key []byte, generation uint64) ([]byte, bool) {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.entries[string(key)] // the conversion does not allocate in a map index
	s.mu.RUnlock()
	if !ok || e.generation != generation {
		return nil, false
	}
	return e.reply, true
}

// store keeps reply under key. When the shard is full, in entries or in
// bytes, it first drops the entries of older generations, then arbitrary
// ones until the new entry fits.
func (c *answerCache) store(key []byte, generation uint64, reply []byte) {
	size := len(key) + len(reply)
	if size > c.perShardBytes {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.entries[string(key)]; ok {
		s.bytes -= len(key) + len(old.reply)
		delete(s.entries, string(key))
	}
	full := func() bool { return len(s.entries) >= c.perShard || s.bytes+size > c.perShardBytes }
	if full() {
		for k, e := range s.entries {
			if e.generation != generation {
				s.bytes -= len(k) + len(e.reply)
				delete(s.entries, k)
			}
		}
		for k, e := range s.entries {
			if !full() {
				break
			}
			s.bytes -= len(k) + len(e.reply)
			delete(s.entries, k)
		}
	}
	s.entries[string(key)] = cachedAnswer{generation: generation, reply: reply}
	s.bytes += size
}

// size reports the entries held and the bytes of their keys and replies.
func (c *answerCache) size() (entries, bytes int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		entries += len(s.entries)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return entries, bytes
}

// answer returns the cached reply to the raw query pkt at generation, or
// false when pkt is not a plain query or nothing current is cached for it.
// key is scratch space of at least maxKeyLen bytes. The reply is shared:
// callers send it with pkt's ID in place of the first two bytes.
func (c *answerCache) answer(pkt []byte, generation uint64, key []byte) ([]byte, bool) {
	name, k, ok := wireQueryKey(pkt, key)
	if !ok {
		return nil, false
	}
	reply, ok := c.lookup(k, generation)
	// The reply echoes the question name with the client's capitalisation;
	// a query that differs only in case takes the slow path, and its reply
	// then replaces this one.
	if !ok || len(reply) < headerLen+len(name) || !bytes.Equal(reply[headerLen:headerLen+len(name)], name) {
		return nil, false
	}
	return reply, true
}

// wireQueryKey reads a plain query straight from the wire: a QUERY with
// only the RD, AD and CD flags, exactly one question, no answer or
// authority records and, as additional data, nothing or one EDNS version 0
// OPT record without options, and no bytes after that. Anything else takes
// the slow path through miekg/dns. It returns the question name as sent and
// the cache key, built in buf.
func wireQueryKey(pkt, buf []byte) (name, key []byte, ok bool) {
	if len(pkt) < headerLen {
		return nil, nil, false
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	qdcount := binary.BigEndian.Uint16(pkt[4:])
	ancount := binary.BigEndian.Uint16(pkt[6:])
	nscount := binary.BigEndian.Uint16(pkt[8:])
	arcount := binary.BigEndian.Uint16(pkt[10:])
	if flags&^(flagRD|flagAD|flagCD) != 0 || qdcount != 1 || ancount != 0 || nscount != 0 || arcount > 1 {
		return nil, nil, false
	}
	end, ok := wireNameEnd(pkt, headerLen)
	if !ok || end+4 > len(pkt) {
		return nil, nil, false
	}
	name = pkt[headerLen:end]
	qtype := binary.BigEndian.Uint16(pkt[end:])
	qclass := binary.BigEndian.Uint16(pkt[end+2:])
	rest := pkt[end+4:]

	var keyFlags byte
	if flags&flagRD != 0 {
		keyFlags |= keyRD
	}
	if flags&flagCD != 0 {
		keyFlags |= keyCD
	}
	var udpSize uint16
	switch {
	case arcount == 0 && len(rest) == 0:
	case arcount == 1 && len(rest) == 11 && rest[0] == 0 && binary.BigEndian.Uint16(rest[1:]) == mdns.TypeOPT:
		// OPT: root owner, type, class = UDP size, TTL = extended rcode,
		// version, flags; then RDLENGTH, which must be 0 (no options).
		udpSize = binary.BigEndian.Uint16(rest[3:])
		if rest[5] != 0 || rest[6] != 0 || binary.BigEndian.Uint16(rest[9:]) != 0 {
			return nil, nil, false
		}
		keyFlags |= keyEDNS
		if rest[7]&0x80 != 0 {
			keyFlags |= keyDO
		}
	default:
		return nil, nil, false
	}
	return name, appendQueryKey(buf[:0], name, qtype, qclass, keyFlags, udpSize), true
}

// wireNameEnd returns the offset just past the uncompressed name starting
// at off, checking label lengths and the 255-byte limit.
func wireNameEnd(pkt []byte, off int) (int, bool) {
	start := off
	for off < len(pkt) {
		l := int(pkt[off])
		if l == 0 {
			return off + 1, off+1-start <= 255
		}
		if l > 63 { // a compression pointer or a reserved label type
			return 0, false
		}
		off += 1 + l
		if off-start > 255 {
			return 0, false
		}
	}
	return 0, false
}

// appendQueryKey renders a cache key: the lower-cased wire name, type,
// class, key flags and UDP size.
func appendQueryKey(buf, name []byte, qtype, qclass uint16, keyFlags byte, udpSize uint16) []byte {
	for _, b := range name {
		// Length octets are below 64, so only label bytes are folded.
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf = append(buf, b)
	}
	buf = binary.BigEndian.AppendUint16(buf, qtype)
	buf = binary.BigEndian.AppendUint16(buf, qclass)
	buf = append(buf, keyFlags)
	return binary.BigEndian.AppendUint16(buf, udpSize)
}

// msgQueryKey is the cache key of an unpacked query, the same as
// wireQueryKey gives for its wire form, or false when req is not a plain
// query (see wireQueryKey).
func msgQueryKey(req *mdns.Msg) ([]byte, bool) {
	if req.Response || req.Opcode != mdns.OpcodeQuery || req.Authoritative || req.Truncated ||
		req.RecursionAvailable || req.Zero || req.Rcode != 0 ||
		len(req.Question) != 1 || len(req.Answer) != 0 || len(req.Ns) != 0 || len(req.Extra) > 1 {
		return nil, false
	}
	var keyFlags byte
	if req.RecursionDesired {
		keyFlags |= keyRD
	}
	if req.CheckingDisabled {
		keyFlags |= keyCD
	}
	var udpSize uint16
	if len(req.Extra) == 1 {
		opt, ok := req.Extra[0].(*mdns.OPT)
		if !ok || opt.Hdr.Name != "." || opt.Version() != 0 || opt.ExtendedRcode() != 0 || len(opt.Option) != 0 {
			return nil, false
		}
		keyFlags |= keyEDNS
		if opt.Do() {
			keyFlags |= keyDO
		}
		udpSize = opt.UDPSize()
	}
	q := req.Question[0]
	var wire [256]byte
	n, err := mdns.PackDomainName(q.Name, wire[:], 0, nil, false)
	if err != nil {
		return nil, false
	}
	return appendQueryKey(make([]byte, 0, maxKeyLen), wire[:n], q.Qtype, q.Qclass, keyFlags, udpSize), true
}
