package dns

import (
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func mustRR(t *testing.T, s string) mdns.RR {
	t.Helper()
	rr, err := mdns.NewRR(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return rr
}

func reply(t *testing.T, rcode int, answer []string, authority []string) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion("example.org.", mdns.TypeA)
	m.Response, m.Rcode = true, rcode
	for _, s := range answer {
		m.Answer = append(m.Answer, mustRR(t, s))
	}
	for _, s := range authority {
		m.Ns = append(m.Ns, mustRR(t, s))
	}
	return m
}

func TestCacheTTL(t *testing.T) {
	const soa = "example.org. 600 IN SOA ns.example.org. host.example.org. 1 7200 900 1209600 120"
	tests := []struct {
		name string
		msg  *mdns.Msg
		ttl  time.Duration
		ok   bool
	}{
		{"smallest answer TTL", reply(t, mdns.RcodeSuccess, []string{"example.org. 300 IN A 192.0.2.1", "example.org. 60 IN A 192.0.2.2"}, nil), 60 * time.Second, true},
		{"NXDOMAIN uses SOA minimum", reply(t, mdns.RcodeNameError, nil, []string{soa}), 120 * time.Second, true},
		{"NODATA uses SOA TTL when smaller", reply(t, mdns.RcodeSuccess, nil, []string{"example.org. 30 IN SOA ns.example.org. host.example.org. 1 7200 900 1209600 120"}), 30 * time.Second, true},
		{"negative without SOA", reply(t, mdns.RcodeNameError, nil, nil), 0, false},
		{"server failure", reply(t, mdns.RcodeServerFailure, nil, nil), 0, false},
		{"zero TTL", reply(t, mdns.RcodeSuccess, []string{"example.org. 0 IN A 192.0.2.1"}, nil), 0, false},
	}
	for _, tt := range tests {
		ttl, ok := cacheTTL(tt.msg)
		if ttl != tt.ttl || ok != tt.ok {
			t.Errorf("%s: cacheTTL = %v %v, want %v %v", tt.name, ttl, ok, tt.ttl, tt.ok)
		}
	}
}

func TestResponseCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newResponseCache(2, 30*time.Second)
	c.now = func() time.Time { return now }
	key := func(name string) cacheKey {
		return keyFor(mdns.Question{Name: name, Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	}

	c.put(key("a.example."), reply(t, mdns.RcodeSuccess, []string{"a.example. 20 IN A 192.0.2.1"}, nil))
	now = now.Add(5 * time.Second)
	m, ok := c.get(key("A.Example."))
	if !ok || m.Answer[0].Header().Ttl != 15 {
		t.Fatalf("get after 5s: ok=%v msg=%v, want TTL 15", ok, m)
	}
	m.Answer[0].Header().Ttl = 999 // a caller's change must not reach the cache
	if m, _ := c.get(key("a.example.")); m.Answer[0].Header().Ttl != 15 {
		t.Errorf("cached entry changed through a returned copy")
	}
	now = now.Add(15 * time.Second)
	if _, ok := c.get(key("a.example.")); ok {
		t.Error("entry served after its TTL")
	}

	// TTLs above the cap are cut to it.
	c.put(key("long.example."), reply(t, mdns.RcodeSuccess, []string{"long.example. 3600 IN A 192.0.2.1"}, nil))
	now = now.Add(31 * time.Second)
	if _, ok := c.get(key("long.example.")); ok {
		t.Error("entry served beyond the maximum TTL")
	}

	// Capacity: the least recently used entry goes.
	for _, n := range []string{"x.example.", "y.example."} {
		c.put(key(n), reply(t, mdns.RcodeSuccess, []string{n + " 20 IN A 192.0.2.1"}, nil))
	}
	c.get(key("x.example."))
	c.put(key("z.example."), reply(t, mdns.RcodeSuccess, []string{"z.example. 20 IN A 192.0.2.1"}, nil))
	if c.len() != 2 {
		t.Errorf("cache holds %d entries, capacity 2", c.len())
	}
	if _, ok := c.get(key("y.example.")); ok {
		t.Error("least recently used entry was kept")
	}
	if _, ok := c.get(key("x.example.")); !ok {
		t.Error("recently used entry was evicted")
	}
}
