package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// upstreamUDPSize is the EDNS0 buffer size advertised to upstream resolvers,
// so most replies (and so cache entries) are complete without TCP.
const upstreamUDPSize = 4096

var errNoUpstreams = errors.New("no upstream resolvers (loopback nameservers are skipped)")

// forwarder resolves names outside the cluster zone through the host's
// upstream resolvers, trying each in turn, behind a response cache.
type forwarder struct {
	upstreams []string // host:port, in resolv.conf order
	timeout   time.Duration
	cache     *responseCache
	flight    singleflight.Group
	log       *slog.Logger
}

// lookup answers q from the cache or the upstreams. Concurrent identical
// questions share one upstream exchange.
func (f *forwarder) lookup(ctx context.Context, q mdns.Question) (*mdns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, errNoUpstreams
	}
	key := keyFor(q)
	if m, ok := f.cache.get(key); ok {
		return m, nil
	}
	flightKey := key.name + "/" + strconv.Itoa(int(key.qtype)) + "/" + strconv.Itoa(int(key.qclass))
	v, err, _ := f.flight.Do(flightKey, func() (any, error) {
		m, err := f.exchange(ctx, q)
		if err != nil {
			return nil, err
		}
		f.cache.put(key, m)
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*mdns.Msg).Copy(), nil
}

// answers is lookup for the resolver's ExternalName targets: the answer
// records of a successful reply, or none.
func (f *forwarder) answers(ctx context.Context, name string, qtype uint16) []mdns.RR {
	m, err := f.lookup(ctx, mdns.Question{Name: name, Qtype: qtype, Qclass: mdns.ClassINET})
	if err != nil || m.Rcode != mdns.RcodeSuccess {
		return nil
	}
	return m.Answer
}

// exchange asks the upstreams in order until one answers. A reply of
// SERVFAIL or REFUSED moves on to the next upstream too, but is returned
// when no upstream does better.
func (f *forwarder) exchange(ctx context.Context, q mdns.Question) (*mdns.Msg, error) {
	query := new(mdns.Msg)
	query.SetQuestion(q.Name, q.Qtype)
	query.Question[0].Qclass = q.Qclass
	query.SetEdns0(upstreamUDPSize, false)

	var lastReply *mdns.Msg
	var lastErr error
	for _, upstream := range f.upstreams {
		reply, err := f.exchangeWith(ctx, query, upstream)
		if err != nil {
			f.log.Debug("upstream resolver failed", "upstream", upstream, "name", q.Name, "error", err)
			lastErr = err
			continue
		}
		if reply.Rcode == mdns.RcodeServerFailure || reply.Rcode == mdns.RcodeRefused {
			lastReply = reply
			continue
		}
		return reply, nil
	}
	if lastReply != nil {
		return lastReply, nil
	}
	return nil, fmt.Errorf("forward %s: all %d upstream resolvers failed: %w", q.Name, len(f.upstreams), lastErr)
}

// exchangeWith sends query to one upstream over UDP, and again over TCP if
// the UDP reply was truncated. The reply comes back without its OPT record;
// the server adds its own for the client.
func (f *forwarder) exchangeWith(ctx context.Context, query *mdns.Msg, upstream string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	udp := &mdns.Client{Net: "udp", UDPSize: upstreamUDPSize, Timeout: f.timeout}
	reply, _, err := udp.ExchangeContext(ctx, query, upstream)
	if err == nil && reply.Truncated {
		tcp := &mdns.Client{Net: "tcp", Timeout: f.timeout}
		reply, _, err = tcp.ExchangeContext(ctx, query, upstream)
	}
	if err != nil {
		return nil, fmt.Errorf("exchange with %s: %w", upstream, err)
	}
	if reply.Id != query.Id || len(reply.Question) != 1 || !sameQuestion(reply.Question[0], query.Question[0]) {
		return nil, fmt.Errorf("exchange with %s: reply does not match the query", upstream)
	}
	extra := reply.Extra[:0]
	for _, rr := range reply.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	reply.Extra = extra
	return reply, nil
}

func sameQuestion(a, b mdns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && keyFor(a).name == keyFor(b).name
}
