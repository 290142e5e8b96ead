// Package dns is kite's cluster DNS server. It runs inside every agent,
// answers for the cluster zone per the Kubernetes DNS-Based Service Discovery
// specification from informer-fed state, and forwards every other name to the
// host's resolvers through a cache, giving the answers CoreDNS would.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
	"k8s.io/client-go/kubernetes"
)

// Config says where the server listens and what it serves.
type Config struct {
	Client        kubernetes.Interface // informers are started from it (Services, EndpointSlices, Namespaces)
	ClusterDomain string               // "cluster.local"; "" means that
	ListenAddrs   []string             // "10.43.0.10:53"; both UDP and TCP on each
	ResolvConf    string               // upstream source; "" = /etc/resolv.conf
	Logger        *slog.Logger         // nil = slog.Default()
}

const (
	defaultClusterDomain = "cluster.local"
	// serverUDPSize is the EDNS0 payload size this server advertises: the
	// DNS Flag Day 2020 value, which avoids IP fragmentation.
	serverUDPSize = 1232
	// queryTimeout bounds the work for one query, forwarding included.
	queryTimeout = 5 * time.Second
	// cacheEntries bounds the forwarding cache, like CoreDNS's default capacity.
	cacheEntries = 10000
	// cacheMaxTTL caps cached TTLs like the "cache 30" of k3s's CoreDNS.
	cacheMaxTTL = 30 * time.Second
	// shutdownTimeout bounds how long in-flight queries may finish at stop.
	shutdownTimeout = 5 * time.Second
)

// serverOptions are knobs the public Config does not expose; tests use them
// to reach a fake upstream on loopback.
type serverOptions struct {
	upstreamPort          uint16
	keepLoopbackUpstreams bool
	upstreamTimeout       time.Duration
}

func defaultServerOptions() serverOptions {
	return serverOptions{upstreamPort: 53, upstreamTimeout: 2 * time.Second}
}

// Server is the cluster DNS server.
type Server struct {
	listenAddrs []string
	log         *slog.Logger
	watch       *clusterWatch
	resolver    *resolver
	forwarder   *forwarder
	answers     *answerCache
	synced      atomic.Bool

	// bound receives the UDP addresses actually bound, once, when serving starts.
	bound chan []net.Addr
}

// New checks cfg, reads the upstream resolvers and prepares the informers.
// Nothing listens or watches until Run.
func New(cfg Config) (*Server, error) {
	return newServer(cfg, defaultServerOptions())
}

func newServer(cfg Config, opts serverOptions) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("dns: Config.Client is required")
	}
	if len(cfg.ListenAddrs) == 0 {
		return nil, errors.New("dns: Config.ListenAddrs is empty")
	}
	domain := cfg.ClusterDomain
	if domain == "" {
		domain = defaultClusterDomain
	}
	zone := mdns.Fqdn(strings.ToLower(strings.TrimSuffix(domain, ".")))
	if _, ok := mdns.IsDomainName(zone); !ok || zone == "." {
		return nil, fmt.Errorf("dns: cluster domain %q is not a domain name", domain)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "dns")

	var nameServers []netip.Addr
	var self []netip.AddrPort
	for _, addr := range cfg.ListenAddrs {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dns: listen address %q must be ip:port: %w", addr, err)
		}
		self = append(self, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		if !ap.Addr().IsUnspecified() {
			nameServers = append(nameServers, ap.Addr().Unmap())
		}
	}

	resolvConf := cfg.ResolvConf
	if resolvConf == "" {
		resolvConf = defaultResolvConf
	}
	upstreams, err := readUpstreams(resolvConf, opts.upstreamPort, opts.keepLoopbackUpstreams, self)
	if err != nil {
		log.Warn("no upstream resolvers, names outside the cluster will fail", "error", err)
	} else if len(upstreams) == 0 {
		log.Warn("no usable upstream resolvers (loopback nameservers are skipped), names outside the cluster will fail", "resolvConf", resolvConf)
	}

	m := newModel()
	watch, err := newClusterWatch(cfg.Client, m)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	s := &Server{
		listenAddrs: cfg.ListenAddrs,
		log:         log,
		watch:       watch,
		forwarder: &forwarder{
			upstreams: upstreams,
			timeout:   opts.upstreamTimeout,
			cache:     newResponseCache(cacheEntries, cacheMaxTTL),
			log:       log,
		},
		answers: newAnswerCache(answerCacheEntries, answerCacheBytes),
		bound:   make(chan []net.Addr, 1),
	}
	s.resolver = &resolver{
		zone:        zone,
		model:       m,
		nameServers: nameServers,
		external:    s.forwarder.answers,
		synced:      s.synced.Load,
	}
	return s, nil
}

// Run binds every listen address (UDP and TCP), starts the informers and
// serves until ctx ends. It returns an error if a listener cannot be bound or
// fails while serving; nil when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	servers, addrs, err := s.listen(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if s.watch.run(ctx) {
			s.synced.Store(true)
			s.log.Info("cluster state synced, serving the cluster zone", "zone", s.resolver.zone)
		}
	}()

	started := make(chan struct{}, len(servers))
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { errs <- srv.ActivateAndServe() }()
	}
	var serveErr error
	running := len(servers)
	for n := 0; n < len(servers) && serveErr == nil; n++ {
		select {
		case <-started:
		case err := <-errs:
			running--
			serveErr = fmt.Errorf("dns: serve: %w", err)
		}
	}
	if serveErr == nil {
		s.log.Info("listening", "addresses", s.listenAddrs)
		select {
		case s.bound <- addrs:
		default: // an earlier Run already reported its addresses
		}
		select {
		case <-ctx.Done():
		case err := <-errs:
			running--
			serveErr = fmt.Errorf("dns: serve: %w", err)
		}
	}

	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer stop()
	for _, srv := range servers {
		// A server that failed, or had not yet marked itself started, reports
		// an error here; closing its socket as well makes it stop either way.
		_ = srv.ShutdownContext(shutdownCtx)
		closeSocket(srv)
	}
	for ; running > 0; running-- {
		select {
		case <-errs:
		case <-shutdownCtx.Done():
			return serveErr
		}
	}
	return serveErr
}

// listen binds UDP and TCP on every listen address. With port 0 the TCP
// listener takes the port the UDP socket got, so both share one address.
func (s *Server) listen(ctx context.Context) ([]*mdns.Server, []net.Addr, error) {
	h := &handler{ctx: ctx, s: s}
	var servers []*mdns.Server
	var addrs []net.Addr
	closeAll := func() {
		for _, srv := range servers {
			closeSocket(srv)
		}
	}
	// One UDP socket per CPU on the same address (SO_REUSEPORT): the kernel
	// spreads queries over them, and each socket's reader runs on its own,
	// where a single reader would cap the rate at one core's worth. Each
	// reader answers repeated questions from the answer cache itself (see
	// enableFastPath); miekg/dns serves the rest, and TCP.
	lc := net.ListenConfig{Control: setReusePort}
	for _, addr := range s.listenAddrs {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		first := pc.LocalAddr()
		host, _, _ := net.SplitHostPort(addr)
		port := first.(*net.UDPAddr).Port
		bound := net.JoinHostPort(host, strconv.Itoa(port))
		for n := range runtime.GOMAXPROCS(0) {
			if n > 0 {
				if pc, err = lc.ListenPacket(ctx, "udp", bound); err != nil {
					closeAll()
					return nil, nil, fmt.Errorf("dns: listen udp %s: %w", bound, err)
				}
			}
			srv := &mdns.Server{PacketConn: pc, Handler: h, UDPSize: mdns.MaxMsgSize}
			servers = append(servers, srv)
			if err := s.enableFastPath(srv); err != nil {
				closeAll()
				return nil, nil, err
			}
		}
		ln, err := lc.Listen(ctx, "tcp", bound)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", addr, err)
		}
		servers = append(servers, &mdns.Server{Listener: ln, Handler: h})
		addrs = append(addrs, first)
	}
	return servers, addrs, nil
}

// setReusePort lets several sockets bind one address, for listen.
func setReusePort(_, _ string, c syscall.RawConn) error {
	var sockErr error
	if err := c.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return sockErr
}

func closeSocket(srv *mdns.Server) {
	if srv.PacketConn != nil {
		_ = srv.PacketConn.Close()
	}
	if srv.Listener != nil {
		_ = srv.Listener.Close()
	}
}

// handler turns queries into replies for the miekg/dns servers.
type handler struct {
	ctx context.Context
	s   *Server
}

func (h *handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	ctx, cancel := context.WithTimeout(h.ctx, queryTimeout)
	defer cancel()
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	// Both are read before resolving, so a cached reply is never tagged
	// with a generation newer than the data it was built from.
	generation := h.s.resolver.model.generation()
	synced := h.s.synced.Load()
	reply, fromModel := h.s.reply(ctx, req, udp)
	packed, err := reply.Pack()
	if err != nil {
		h.s.log.Debug("pack reply", "client", w.RemoteAddr().String(), "error", err)
		return
	}
	if _, err := w.Write(packed); err != nil {
		h.s.log.Debug("write reply", "client", w.RemoteAddr().String(), "error", err)
	}
	if udp && fromModel && synced {
		if key, ok := msgQueryKey(req); ok {
			h.s.answers.store(key, generation, packed)
		}
	}
}

// reply builds the reply to req: from the cluster zone, from a cluster PTR,
// or forwarded upstream; sized for the client's transport. fromModel reports
// an authoritative reply built from the model alone, with no upstream
// records in it, which stays exact until the model changes.
func (s *Server) reply(ctx context.Context, req *mdns.Msg, udp bool) (reply *mdns.Msg, fromModel bool) {
	reply = new(mdns.Msg)
	if len(req.Question) != 1 {
		// The default accept function already rejects these; this keeps reply total.
		return reply.SetRcodeFormatError(req), false
	}
	if req.Opcode != mdns.OpcodeQuery {
		// NOTIFY passes the default accept function; this server has no secondaries.
		return reply.SetRcode(req, mdns.RcodeNotImplemented), false
	}
	opt := req.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		reply.SetReply(req)
		reply.SetEdns0(serverUDPSize, false)
		reply.Rcode = mdns.RcodeBadVers
		return reply, false
	}

	q := req.Question[0]
	var res result
	authoritative := false
	switch {
	case s.resolver.inZone(q.Name):
		res = s.resolver.resolve(ctx, q)
		authoritative = res.rcode != mdns.RcodeServerFailure
	case isReverseName(q.Name):
		var ok bool
		if res, ok = s.resolver.resolveReverse(q); ok {
			authoritative = true
		} else {
			res = s.forward(ctx, q)
		}
	default:
		res = s.forward(ctx, q)
	}

	if res.rcode > 0xF && opt == nil {
		// An extended upstream rcode cannot be expressed without EDNS0.
		res = result{rcode: mdns.RcodeServerFailure}
	}
	reply.SetRcode(req, res.rcode)
	reply.Authoritative = authoritative
	reply.RecursionAvailable = true
	reply.Answer, reply.Ns, reply.Extra = res.answer, res.authority, res.additional

	size := mdns.MaxMsgSize
	if udp {
		size = mdns.MinMsgSize
		if opt != nil {
			size = max(size, int(opt.UDPSize()))
		}
	}
	if opt != nil {
		reply.SetEdns0(serverUDPSize, false)
	}
	reply.Truncate(size)
	fromModel = authoritative && (res.rcode == mdns.RcodeSuccess || res.rcode == mdns.RcodeNameError) &&
		!s.resolver.hasUpstreamRecords(res)
	return reply, fromModel
}

func (s *Server) forward(ctx context.Context, q mdns.Question) result {
	m, err := s.forwarder.lookup(ctx, q)
	if err != nil {
		s.log.Debug("forward failed", "name", q.Name, "type", mdns.TypeToString[q.Qtype], "error", err)
		return result{rcode: mdns.RcodeServerFailure}
	}
	return result{rcode: m.Rcode, answer: m.Answer, authority: m.Ns, additional: m.Extra}
}
