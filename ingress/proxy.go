package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// rebuildDelay batches bursts of changes (a rollout touches many
	// EndpointSlices) into one table rebuild.
	rebuildDelay = 100 * time.Millisecond
	// shutdownGrace bounds how long in-flight requests may finish at shutdown.
	shutdownGrace = 10 * time.Second
)

// Proxy is the ingress controller and reverse proxy of one agent.
type Proxy struct {
	cfg         Config
	log         *slog.Logger
	watch       *watcher
	builder     *builder
	table       atomic.Pointer[routeTable]
	changes     chan struct{}
	defaultCert *tls.Certificate
	upstreams   *upstreamPool
	metrics     *metrics
	// access is the batched access log, or nil when requests are logged
	// through log.
	access *accessLog
	// httpsPort is the bound HTTPS port, for ssl-redirect Locations.
	httpsPort atomic.Int32
	// httpPortText and httpsPortText are the bound ports as X-Forwarded-Port
	// says them; set before the first request is served.
	httpPortText, httpsPortText string
	// serving is closed once the listeners are bound and the first table is
	// built, so requests from then on are routed.
	serving         chan struct{}
	httpLn, httpsLn net.Listener
}

// New prepares a Proxy; it contacts nothing until Run.
func New(cfg Config) (*Proxy, error) {
	if cfg.Client == nil {
		return nil, errors.New("ingress: config has no API client")
	}
	if cfg.HTTPAddr == "" || cfg.HTTPSAddr == "" {
		return nil, errors.New("ingress: config needs both an HTTP and an HTTPS listen address")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "ingress")
	cert, err := selfSignedCertificate(time.Now())
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		cfg:         cfg,
		log:         log,
		changes:     make(chan struct{}, 1),
		defaultCert: cert,
		upstreams:   newUpstreamPool(),
		metrics:     newMetrics(),
		serving:     make(chan struct{}),
	}
	if cfg.AccessLog != nil {
		p.access = newAccessLog(cfg.AccessLog)
	}
	p.table.Store(newRouteTable())
	if p.watch, err = newWatcher(cfg.Client, p.changed); err != nil {
		return nil, err
	}
	p.builder = newBuilder(p.watch, cfg.Recorder, log)
	return p, nil
}

// MetricsHandler serves the proxy's Prometheus metrics; the agent mounts it
// on its /metrics endpoint.
func (p *Proxy) MetricsHandler() http.Handler { return p.metrics }

// changed schedules a rebuild; it never blocks an informer.
func (p *Proxy) changed() {
	select {
	case p.changes <- struct{}{}:
	default:
	}
}

// rebuild builds a fresh table and swaps it in. Requests already routed
// keep the table they looked up. The metrics then forget the Ingresses the
// table no longer serves.
func (p *Proxy) rebuild() {
	t := p.builder.build()
	p.table.Store(t)
	p.metrics.retain(t.served)
	p.upstreams.retain(t.endpoints)
}

func (p *Proxy) rebuildLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changes:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(rebuildDelay):
		}
		// Changes that arrived during the delay are covered by this build.
		select {
		case <-p.changes:
		default:
		}
		p.rebuild()
	}
}

// getCertificate picks the certificate by SNI from the current table, so a
// changed Secret applies to the next handshake without a restart.
func (p *Proxy) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := p.table.Load().certs.lookup(canonicalHost(hello.ServerName)); cert != nil {
		return cert, nil
	}
	return p.defaultCert, nil
}

// The limits a slow or hostile client meets on both listeners.
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 1 << 20
)

// newTLSServer is net/http's server for the HTTPS listener, which also
// speaks HTTP/2.
func (p *Proxy) newTLSServer(tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           p,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
}

// newPlainServer is kite's HTTP/1.1 server for the HTTP listener.
func (p *Proxy) newPlainServer() *h1Server {
	return &h1Server{
		handler:        p,
		log:            p.log,
		headerTimeout:  readHeaderTimeout,
		idleTimeout:    idleTimeout,
		maxHeaderBytes: maxHeaderBytes,
	}
}

// Run binds the listeners, waits for the caches to sync, then serves until
// ctx ends and shuts down gracefully.
func (p *Proxy) Run(ctx context.Context) error {
	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", p.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("ingress: listen on %s: %w", p.cfg.HTTPAddr, err)
	}
	httpsLn, err := lc.Listen(ctx, "tcp", p.cfg.HTTPSAddr)
	if err != nil {
		_ = httpLn.Close()
		return fmt.Errorf("ingress: listen on %s: %w", p.cfg.HTTPSAddr, err)
	}
	if addr, ok := httpsLn.Addr().(*net.TCPAddr); ok {
		p.httpsPort.Store(int32(addr.Port))
		p.httpsPortText = strconv.Itoa(addr.Port)
	}
	if addr, ok := httpLn.Addr().(*net.TCPAddr); ok {
		p.httpPortText = strconv.Itoa(addr.Port)
	}
	p.httpLn, p.httpsLn = httpLn, httpsLn

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer func() {
		stopWatch()
		p.watch.shutdown()
	}()
	if !p.watch.run(watchCtx) {
		_ = httpLn.Close()
		_ = httpsLn.Close()
		return nil // ctx ended before the caches synced: a normal shutdown
	}
	p.rebuild()
	close(p.serving)
	var loops sync.WaitGroup
	loops.Go(func() { p.rebuildLoop(watchCtx) })
	loops.Go(func() { p.upstreams.sweepLoop(watchCtx) })
	if p.access != nil {
		loops.Go(func() { p.access.flushLoop(watchCtx) })
	}
	defer func() {
		stopWatch()
		loops.Wait()
	}()

	tlsConfig := &tls.Config{
		GetCertificate: p.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
	httpSrv, httpsSrv := p.newPlainServer(), p.newTLSServer(tlsConfig)
	errs := make(chan error, 2)
	go func() { errs <- httpSrv.serve(httpLn) }()
	go func() { errs <- httpsSrv.ServeTLS(httpsLn, "", "") }()
	p.log.Info("ingress proxy serving", "http", httpLn.Addr().String(), "https", httpsLn.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
		serveErr = fmt.Errorf("ingress: serve: %w", serveErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	_ = httpSrv.shutdown(shutdownCtx)
	_ = httpsSrv.Shutdown(shutdownCtx)
	p.upstreams.close()
	if p.access != nil {
		p.access.flush() // the lines of the requests that finished last
	}
	return serveErr
}
