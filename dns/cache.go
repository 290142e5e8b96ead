package dns

import (
	"container/list"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// cacheKey identifies a question in the forwarding cache.
type cacheKey struct {
	name   string // lower case
	qtype  uint16
	qclass uint16
}

func keyFor(q mdns.Question) cacheKey {
	return cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass}
}

type cacheEntry struct {
	key     cacheKey
	msg     *mdns.Msg
	stored  time.Time
	expires time.Time
}

// responseCache keeps upstream answers for their TTL, bounded in entries
// with least-recently-used eviction. Negative answers (NXDOMAIN, NODATA) are
// kept for the SOA minimum (RFC 2308). Like CoreDNS's "cache 30" in k3s's
// default configuration, no entry lives longer than maxTTL.
type responseCache struct {
	mu       sync.Mutex
	capacity int
	maxTTL   time.Duration
	entries  map[cacheKey]*list.Element
	order    *list.List // front: most recently used
	now      func() time.Time
}

func newResponseCache(capacity int, maxTTL time.Duration) *responseCache {
	return &responseCache{
		capacity: capacity,
		maxTTL:   maxTTL,
		entries:  map[cacheKey]*list.Element{},
		order:    list.New(),
		now:      time.Now,
	}
}

// get returns a copy of the cached reply with its TTLs lowered by the time
// spent in the cache.
func (c *responseCache) get(key cacheKey) (*mdns.Msg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	now := c.now()
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return nil, false
	}
	c.order.MoveToFront(el)
	elapsed := uint32(now.Sub(e.stored) / time.Second)
	m := e.msg.Copy()
	for _, section := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			h := rr.Header()
			h.Ttl = max(h.Ttl, elapsed) - elapsed
		}
	}
	return m, true
}

// put stores a reply if it is cacheable.
func (c *responseCache) put(key cacheKey, m *mdns.Msg) {
	ttl, ok := cacheTTL(m)
	if !ok {
		return
	}
	ttl = min(ttl, c.maxTTL)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.Remove(el)
		delete(c.entries, key)
	}
	for c.order.Len() >= c.capacity {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, msg: m.Copy(), stored: now, expires: now.Add(ttl)})
}

func (c *responseCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// cacheTTL is how long m may be cached: the smallest TTL of its answers, or
// for a negative reply the smaller of the SOA's TTL and minimum. Replies
// that are neither (server failures, negative replies without a SOA) are not
// cached.
func cacheTTL(m *mdns.Msg) (time.Duration, bool) {
	if m.Truncated {
		return 0, false
	}
	switch {
	case m.Rcode == mdns.RcodeSuccess && len(m.Answer) > 0:
		ttl := m.Answer[0].Header().Ttl
		for _, rr := range m.Answer[1:] {
			ttl = min(ttl, rr.Header().Ttl)
		}
		return time.Duration(ttl) * time.Second, ttl > 0
	case m.Rcode == mdns.RcodeSuccess || m.Rcode == mdns.RcodeNameError:
		for _, rr := range m.Ns {
			if soa, ok := rr.(*mdns.SOA); ok {
				ttl := min(soa.Hdr.Ttl, soa.Minttl)
				return time.Duration(ttl) * time.Second, ttl > 0
			}
		}
	}
	return 0, false
}
