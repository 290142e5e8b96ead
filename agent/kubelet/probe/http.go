package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

// maxBodyBytes is how much of a response body is read and reported.
const maxBodyBytes = 10 << 10

// httpTransport is shared by all HTTP probes: no keep-alives (each probe is
// a fresh connection, as a real client would make), no proxy, no
// certificate checks (probes test liveness, not identity) and no gzip.
var httpTransport = &http.Transport{
	TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
	DisableKeepAlives:   true,
	Proxy:               nil,
	DisableCompression:  true,
	DialContext:         dialer.DialContext,
	TLSHandshakeTimeout: 10 * time.Second,
}

func runHTTP(ctx context.Context, g *v1.HTTPGetAction, c *v1.Container, podIP string, timeout time.Duration) (Result, string) {
	req, err := newHTTPRequest(ctx, g, c, podIP)
	if err != nil {
		return Unknown, err.Error()
	}
	client := &http.Client{Timeout: timeout, Transport: httpTransport, CheckRedirect: sameHostRedirects}
	resp, err := client.Do(req)
	if err != nil {
		// Connection errors and timeouts are failures of the container.
		return Failure, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return Failure, fmt.Sprintf("reading response body: %v", err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Success, string(body)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// A redirect elsewhere was not followed; the kubelet passes the
		// probe with a warning.
		return Success, fmt.Sprintf("Probe terminated redirects, Response body: %v", string(body))
	}
	// The body stays out of the message: it may hold anything.
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

func newHTTPRequest(ctx context.Context, g *v1.HTTPGetAction, c *v1.Container, podIP string) (*http.Request, error) {
	port, err := containerPort(g.Port, c)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build probe request: %w", err)
	}
	headers := make(http.Header)
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", userAgent)
	}
	// An explicitly empty Accept header means "send none".
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// sameHostRedirects follows redirects only to the same host (any port or
// scheme), so a probe cannot be bounced to another machine; a redirect
// elsewhere ends the probe with the redirect response.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
