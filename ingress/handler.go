package ingress

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

const (
	// statusClientClosed is logged when the client went away first (nginx's 499).
	statusClientClosed = 499
	// flushInterval bounds how long response bytes may wait in the
	// server's buffer. Flushing after every write instead cost a write
	// system call for the headers and one for the body of every response.
	flushInterval = 100 * time.Millisecond
)

// newReverseProxy builds the one ReverseProxy all requests share; the
// backend comes with each request's context.
func newReverseProxy(transport http.RoundTripper, log *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:   rewriteForUpstream,
		Transport: transport,
		// Responses without a length and server-sent events are flushed
		// as they arrive anyway (ReverseProxy does that by itself); others
		// are flushed at least this often, so a slow body still streams
		// while a fast one goes out in one write with its headers.
		FlushInterval: flushInterval,
		BufferPool:    copyBuffers,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			switch {
			case errors.Is(err, errNoEndpoints):
				w.WriteHeader(http.StatusServiceUnavailable)
			case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
				w.WriteHeader(statusClientClosed)
			default:
				log.Warn("upstream request failed", "host", r.Host, "path", r.URL.Path, "err", err)
				w.WriteHeader(http.StatusBadGateway)
			}
		},
	}
}

// rewriteForUpstream prepares the outbound request. The endpoint is chosen by
// endpointTransport; the Host header stays the client's, as Ingress backends expect.
func rewriteForUpstream(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "backend"
	pr.Out.Host = pr.In.Host
	// Append to the client's X-Forwarded-For rather than replace it.
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		pr.Out.Header["X-Forwarded-For"] = append([]string(nil), prior...)
	}
	pr.SetXForwarded()
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		pr.Out.Header.Set("X-Real-IP", ip)
	}
	if local, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(local.String()); err == nil {
			pr.Out.Header.Set("X-Forwarded-Port", port)
		}
	}
}

// ServeHTTP routes one request from either listener.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	host := canonicalHost(r.Host)
	rt := p.table.Load().lookup(host, r.URL.Path)

	var ingress types.NamespacedName
	var a *attempt
	switch {
	case rt == nil:
		http.Error(rec, "404 page not found", http.StatusNotFound)
	case r.TLS == nil && rt.sslRedirect:
		ingress = rt.ingress
		http.Redirect(rec, r, p.httpsURL(host, r.URL), http.StatusPermanentRedirect)
	default:
		ingress = rt.ingress
		a = &attempt{backend: rt.backend}
		p.reverseProxy.ServeHTTP(rec, r.WithContext(withAttempt(r.Context(), a)))
	}

	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	p.metrics.observe(ingress, status, elapsed)
	ingressName := ""
	if ingress.Name != "" {
		ingressName = ingress.String()
	}
	upstream := ""
	if a != nil {
		if u := a.upstream.Load(); u != nil {
			upstream = *u
		}
	}
	// Typed attributes: the access log is written for every request, and
	// key-value pairs would box each value first.
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("ingress", ingressName), slog.String("host", host), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", status), slog.Duration("duration", elapsed),
		slog.String("upstream", upstream), slog.String("client", r.RemoteAddr))
}

// httpsURL is where an ssl-redirect sends a request for host.
func (p *Proxy) httpsURL(host string, u *url.URL) string {
	target := *u
	target.Scheme = "https"
	target.Host = host
	if port := p.httpsPort.Load(); port != 0 && port != 443 {
		target.Host = net.JoinHostPort(host, strconv.Itoa(int(port)))
	}
	return target.String()
}

// statusRecorder remembers the status code for the access log and metrics.
// Flush and Hijack reach the underlying writer, so streaming and upgrades work.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 || (s.status >= 100 && s.status < 200) {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) FlushError() error {
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Hijack is used by the ReverseProxy to splice upgraded (websocket)
// connections; the upgrade itself is answered with 101.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
