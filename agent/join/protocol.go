package join

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/internal/joinprotocol"
)

// maxResponseBytes bounds what is read from the server: CA bundles and
// certificates are a few KiB.
const maxResponseBytes = 1 << 20

// requestTimeout bounds each request, so a server that accepts connections
// but never answers is retried rather than waited on forever.
const requestTimeout = 15 * time.Second

// fetchCA gets /cacerts without verifying TLS (this node has no CA yet) and
// then verifies the answer against the token instead.
func fetchCA(ctx context.Context, server *url.URL, tok joinprotocol.Token) ([]byte, *x509.CertPool, error) {
	client := httpClient(&tls.Config{
		// The body is checked against the token's hash or HMAC before
		// anything trusts it; this is the one unverified call.
		InsecureSkipVerify: true,
	})
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server.JoinPath(joinprotocol.CACertsPath).String(), nil)
	if err != nil {
		return nil, nil, err
	}
	resp, body, err := do(client, req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, statusError("GET "+joinprotocol.CACertsPath, resp, body)
	}
	pool, err := verifyCA(body, resp.Header.Get(joinprotocol.CAHMACHeader), tok)
	if err != nil {
		return nil, nil, err
	}
	return body, pool, nil
}

// requestCerts posts the CSRs with the token's secret, over TLS verified
// with the cluster CA.
func requestCerts(ctx context.Context, server *url.URL, roots *x509.CertPool, tok joinprotocol.Token, body joinprotocol.NodeRequest) (*joinprotocol.NodeResponse, error) {
	client := httpClient(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	defer client.CloseIdleConnections()
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server.JoinPath(joinprotocol.NodePath).String(), bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(joinprotocol.NodeUser, tok.Secret)
	resp, respBody, err := do(client, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, errors.New("the server refused the join token (check --token)")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError("POST "+joinprotocol.NodePath, resp, respBody)
	}
	var out joinprotocol.NodeResponse
	if err := json.Unmarshal(respBody, &out); err != nil {
		return nil, fmt.Errorf("decode the server's join answer: %w", err)
	}
	if out.ClientCert == "" || out.ServingCert == "" {
		return nil, errors.New("the server's join answer holds no certificates")
	}
	return &out, nil
}

func httpClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: 10 * time.Second,
			Proxy:               http.ProxyFromEnvironment,
		},
	}
}

// do sends req and reads the whole (bounded) body. Transport failures are
// retryable: the server may not be listening yet.
func do(client *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, nil, err
		}
		// Waiting does not fix a certificate that does not verify.
		var verifyErr *tls.CertificateVerificationError
		if errors.As(err, &verifyErr) {
			return nil, nil, fmt.Errorf("the server's certificate does not verify with the cluster CA (is --server an address the server's certificate names?): %w", err)
		}
		return nil, nil, retryable{fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, retryable{fmt.Errorf("%s %s: read answer: %w", req.Method, req.URL.Path, err)}
	}
	return resp, body, nil
}

// statusError describes an unexpected answer, using the message of a
// Kubernetes Status body when there is one. Server-side trouble (5xx, 429)
// is retryable; other refusals are not.
func statusError(what string, resp *http.Response, body []byte) error {
	msg := http.StatusText(resp.StatusCode)
	var status metav1.Status
	if json.Unmarshal(body, &status) == nil && status.Message != "" {
		msg = status.Message
	}
	err := fmt.Errorf("%s: the server answered %d: %s", what, resp.StatusCode, msg)
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return retryable{err}
	}
	return err
}
