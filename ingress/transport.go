package ingress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// attempt travels in the request context from the handler to the transport:
// the backend to reach, and which endpoint finally answered (for the log).
type attempt struct {
	backend  *backend
	upstream atomic.Pointer[string]
}

type attemptKey struct{}

func withAttempt(ctx context.Context, a *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// errNoEndpoints is returned when the backend has no endpoint to try.
var errNoEndpoints = errors.New("backend has no endpoints")

// endpointTransport sends each request to the next endpoint of its backend
// and, when connecting fails, to the following one. Only connection errors
// are retried and only while the request body is untouched, so a request is
// never delivered twice.
type endpointTransport struct {
	base *http.Transport
}

func newEndpointTransport() *endpointTransport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &endpointTransport{base: &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Upstreams are spoken to in HTTP/1.1: that is what Pods serve on
		// plain ports, and it carries Upgrade for websockets.
		ForceAttemptHTTP2: false,
		// Bodies pass through as the backend encoded them: otherwise the
		// transport asks for gzip on its own and unpacks the answer, work
		// the client did not ask for.
		DisableCompression: true,
	}}
}

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a := attemptFrom(req.Context())
	if a == nil {
		return nil, errors.New("ingress: request without backend")
	}
	candidates := a.backend.candidates()
	if len(candidates) == 0 {
		return nil, errNoEndpoints
	}
	var body *retryableBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &retryableBody{ReadCloser: req.Body}
	}
	var lastErr error
	for _, endpoint := range candidates {
		out := toEndpoint(req, endpoint)
		if body != nil {
			out.Body = body
		}
		a.upstream.Store(&endpoint)
		resp, err := t.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !isConnectError(err) || (body != nil && body.touched.Load()) || req.Context().Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// toEndpoint is req addressed to endpoint. The request is the one
// ReverseProxy made for this attempt alone, so a shallow copy with its own
// URL suffices: the header map is shared, which the transport only reads.
// (A deep Clone per request copied every header for nothing.)
func toEndpoint(req *http.Request, endpoint string) *http.Request {
	out := new(http.Request)
	*out = *req
	u := *req.URL
	u.Host = endpoint
	out.URL = &u
	return out
}

// isConnectError reports whether err happened while connecting, before any
// byte of the request was sent.
func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// retryableBody lets a request body outlive a failed attempt: the transport
// closes the body it was given on error, but the inbound body belongs to the
// server, which closes it when the handler returns.
type retryableBody struct {
	io.ReadCloser
	touched atomic.Bool
}

func (b *retryableBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	return b.ReadCloser.Read(p)
}

func (b *retryableBody) Close() error { return nil }

func (t *endpointTransport) close() { t.base.CloseIdleConnections() }
