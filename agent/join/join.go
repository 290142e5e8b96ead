// Package join is the agent's side of joining a kite cluster: it checks the
// server's CA against the join token, has the server sign this node's
// client and serving certificates, and writes them with a kubeconfig.
package join

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"

	"kite/internal/joinprotocol"
)

// File names under Options.Dir (<data-dir>/agent).
const (
	ServerCAFile    = "server-ca.crt"
	ClientCertFile  = "client-kubelet.crt"
	ClientKeyFile   = "client-kubelet.key"
	ServingCertFile = "serving-kubelet.crt"
	ServingKeyFile  = "serving-kubelet.key"
	KubeconfigFile  = "kubelet.kubeconfig"
)

// Options says which server to join and who this node is.
type Options struct {
	// ServerURL is the server's API address, https://host:6443.
	ServerURL string
	// Token is the full K10<hash>::server:<secret> form or the bare secret.
	Token string
	// NodeName becomes the client certificate's system:node:<name>.
	NodeName string
	// NodeIPs and Hostnames are the serving certificate's SANs, the
	// addresses the API server uses to reach this node's kubelet.
	NodeIPs   []net.IP
	Hostnames []string
	// Dir receives the certificates, keys and kubeconfig (<data-dir>/agent).
	Dir string
}

// Credentials is what joining leaves behind.
type Credentials struct {
	Kubeconfig  string // path of kubelet.kubeconfig
	ServerCA    string // path of the cluster CA
	ClientCert  string // path of the node's client certificate
	ClientKey   string
	ServingCert string // path of the kubelet's serving certificate
	ServingKey  string

	ClusterCIDR   string
	ServiceCIDR   string
	ClusterDNS    string
	ClusterDomain string
	Disabled      []string // packaged parts the server turned off (dns, ingress)

	// RestConfig talks to the server as this node.
	RestConfig *rest.Config
}

// Join fetches and verifies the cluster CA, has the server sign this node's
// certificates and writes them to opts.Dir. While the server cannot be
// reached (it may still be starting) it retries with backoff until ctx
// ends; a refused token or a CA that does not match fails at once.
func Join(ctx context.Context, opts Options) (*Credentials, error) {
	tok, err := joinprotocol.ParseToken(opts.Token)
	if err != nil {
		return nil, err
	}
	server, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	log := slog.With("component", "join", "server", server.String())

	clientKey, clientKeyPEM, err := loadOrCreateKey(filepath.Join(opts.Dir, ClientKeyFile))
	if err != nil {
		return nil, err
	}
	servingKey, servingKeyPEM, err := loadOrCreateKey(filepath.Join(opts.Dir, ServingKeyFile))
	if err != nil {
		return nil, err
	}
	clientCSR, err := newCSR(clientKey, opts.NodeName, nil, nil)
	if err != nil {
		return nil, err
	}
	servingCSR, err := newCSR(servingKey, opts.NodeName, opts.Hostnames, opts.NodeIPs)
	if err != nil {
		return nil, err
	}
	req := joinprotocol.NodeRequest{
		NodeName:   opts.NodeName,
		NodeIPs:    ipStrings(opts.NodeIPs),
		Hostnames:  opts.Hostnames,
		ClientCSR:  string(clientCSR),
		ServingCSR: string(servingCSR),
	}

	var (
		caPEM []byte
		roots *x509.CertPool
		resp  *joinprotocol.NodeResponse
	)
	err = retry(ctx, log, func() error {
		if roots == nil {
			ca, pool, err := fetchCA(ctx, server, tok)
			if err != nil {
				return err
			}
			caPEM, roots = ca, pool
		}
		answer, err := requestCerts(ctx, server, roots, tok, req)
		resp = answer
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := checkIssued([]byte(resp.ClientCert), clientKey, roots, x509.ExtKeyUsageClientAuth, opts.NodeName); err != nil {
		return nil, fmt.Errorf("the server's client certificate for this node is unusable: %w", err)
	}
	if err := checkIssued([]byte(resp.ServingCert), servingKey, roots, x509.ExtKeyUsageServerAuth, opts.NodeName); err != nil {
		return nil, fmt.Errorf("the server's serving certificate for this node is unusable: %w", err)
	}

	creds := &Credentials{
		Kubeconfig:    filepath.Join(opts.Dir, KubeconfigFile),
		ServerCA:      filepath.Join(opts.Dir, ServerCAFile),
		ClientCert:    filepath.Join(opts.Dir, ClientCertFile),
		ClientKey:     filepath.Join(opts.Dir, ClientKeyFile),
		ServingCert:   filepath.Join(opts.Dir, ServingCertFile),
		ServingKey:    filepath.Join(opts.Dir, ServingKeyFile),
		ClusterCIDR:   resp.ClusterCIDR,
		ServiceCIDR:   resp.ServiceCIDR,
		ClusterDNS:    resp.ClusterDNS,
		ClusterDomain: resp.ClusterDomain,
		Disabled:      resp.Disabled,
	}
	if err := writeFiles(opts.Dir, map[string][]byte{
		ServerCAFile:    caPEM,
		ClientKeyFile:   clientKeyPEM,
		ServingKeyFile:  servingKeyPEM,
		ClientCertFile:  []byte(resp.ClientCert),
		ServingCertFile: []byte(resp.ServingCert),
	}); err != nil {
		return nil, err
	}
	if creds.RestConfig, err = writeKubeconfig(creds, server.String()); err != nil {
		return nil, err
	}
	log.Info("joined the cluster", "node", opts.NodeName, "clusterCIDR", resp.ClusterCIDR, "serviceCIDR", resp.ServiceCIDR)
	return creds, nil
}

// checkOptions validates opts and returns the server's base URL.
func checkOptions(opts Options) (*url.URL, error) {
	if opts.NodeName == "" {
		return nil, errors.New("join: the node name is empty")
	}
	if opts.Dir == "" {
		return nil, errors.New("join: no directory for the credentials")
	}
	u, err := url.Parse(opts.ServerURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("join: server URL %q is not https://host[:port]", opts.ServerURL)
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// retryable marks errors worth another attempt: the server is unreachable,
// starting or overloaded, as opposed to refusing us.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// retry runs attempt until it succeeds, fails with a non-retryable error or
// ctx ends, waiting 0.5 s, 1 s, 2 s ... at most 10 s between attempts.
func retry(ctx context.Context, log *slog.Logger, attempt func() error) error {
	delay := 500 * time.Millisecond
	for {
		err := attempt()
		var again retryable
		if err == nil || !errors.As(err, &again) {
			return err
		}
		log.Info("server not ready for joining; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up joining the cluster: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}
