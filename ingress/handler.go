package ingress

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// statusClientClosed is logged when the client went away first (nginx's 499).
const statusClientClosed = 499

// ServeHTTP routes one request from either listener.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	host := canonicalHost(r.Host)
	rt := p.table.Load().lookup(host, r.URL.Path)

	var ingress types.NamespacedName
	ingressName := ""
	upstream := ""
	abort := false
	switch {
	case rt == nil:
		http.Error(rec, "404 page not found", http.StatusNotFound)
	case r.TLS == nil && rt.sslRedirect:
		ingress, ingressName = rt.ingress, rt.ingressName
		http.Redirect(rec, r, p.httpsURL(host, r.URL), http.StatusPermanentRedirect)
	default:
		ingress, ingressName = rt.ingress, rt.ingressName
		abort = p.forward(rec, r, rt.backend, &upstream)
	}

	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	p.metrics.observe(ingress, status, elapsed)
	if p.access != nil {
		p.access.record(start.Add(elapsed), &accessEntry{ingress: ingressName, host: host, method: r.Method,
			path: r.URL.Path, status: status, duration: elapsed, upstream: upstream, client: r.RemoteAddr})
	} else {
		// Typed attributes: key-value pairs would box each value first.
		p.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("ingress", ingressName), slog.String("host", host), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", status), slog.Duration("duration", elapsed),
			slog.String("upstream", upstream), slog.String("client", r.RemoteAddr))
	}
	if abort {
		// The body broke off after the head went out: the client must not
		// take the shorter body for the whole.
		panic(http.ErrAbortHandler)
	}
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
	switch f := s.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.ErrNotSupported
}

// Hijack takes the client connection over for an upgrade (a websocket),
// which the proxy answers with 101 itself.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
