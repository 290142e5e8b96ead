// Package auth holds kite's cluster identity: the certificate authorities and
// certificates, kubeconfigs, and the helpers that turn a request's client
// certificate into a Kubernetes user.
package auth

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKIOptions says where the certificates live and which names this server
// answers to.
type PKIOptions struct {
	Dir           string   // <data-dir>/server/tls
	NodeName      string   // this node's name; a SAN of the API and etcd certificates
	NodeIPs       []net.IP // this node's addresses; SANs of the API and etcd certificates
	ServiceIP     net.IP   // first IP of the service CIDR (the `kubernetes` Service), e.g. 10.43.0.1
	ClusterDomain string   // e.g. cluster.local
	TLSSANs       []string // extra names or IPs for the API serving certificate (--tls-san)
}

// PKI is the loaded certificate material of one server. The file paths are
// handed to components that read files (etcd, etcdctl, kubeconfigs); CA and
// CAKey sign new client certificates.
type PKI struct {
	Dir string

	CAFile, CAKeyFile                     string
	ServingCertFile, ServingKeyFile       string
	AdminCertFile, AdminKeyFile           string
	KubeletClientCertFile                 string // the API server's identity towards kubelets
	KubeletClientKeyFile                  string
	EtcdCAFile, EtcdCAKeyFile             string
	EtcdServerCertFile, EtcdServerKeyFile string
	EtcdClientCertFile, EtcdClientKeyFile string
	ServiceAccountKeyFile                 string

	CA    *x509.Certificate
	CAKey crypto.Signer
}

// Fixed names under the TLS directory. They are part of the on-disk contract
// (users point etcdctl and scripts at them), so they never change.
const (
	etcdDirName = "etcd"

	adminUser  = "system:admin"
	adminGroup = "system:masters"
	// kubeletClientUser is the user kubelets admit for logs, exec,
	// attach and port-forward, as kube-apiserver's kubelet client.
	kubeletClientUser = "kube-apiserver-kubelet-client"
	etcdClient        = "kite-apiserver"
)

func newPKIPaths(dir string) *PKI {
	etcd := filepath.Join(dir, etcdDirName)
	return &PKI{
		Dir:                   dir,
		CAFile:                filepath.Join(dir, "ca.crt"),
		CAKeyFile:             filepath.Join(dir, "ca.key"),
		ServingCertFile:       filepath.Join(dir, "serving-kube-apiserver.crt"),
		ServingKeyFile:        filepath.Join(dir, "serving-kube-apiserver.key"),
		AdminCertFile:         filepath.Join(dir, "client-admin.crt"),
		AdminKeyFile:          filepath.Join(dir, "client-admin.key"),
		KubeletClientCertFile: filepath.Join(dir, "client-kubelet.crt"),
		KubeletClientKeyFile:  filepath.Join(dir, "client-kubelet.key"),
		EtcdCAFile:            filepath.Join(etcd, "ca.crt"),
		EtcdCAKeyFile:         filepath.Join(etcd, "ca.key"),
		EtcdServerCertFile:    filepath.Join(etcd, "server.crt"),
		EtcdServerKeyFile:     filepath.Join(etcd, "server.key"),
		EtcdClientCertFile:    filepath.Join(etcd, "client.crt"),
		EtcdClientKeyFile:     filepath.Join(etcd, "client.key"),
		ServiceAccountKeyFile: filepath.Join(dir, "service-account.key"),
	}
}

// EnsurePKI creates whatever certificate material is missing under opts.Dir
// and loads the rest. CAs are never regenerated once they exist, so every
// client keeps trusting the server; leaf certificates are re-issued from the
// same CA when they no longer fit (new SANs, near expiry, wrong CA). Calling
// it again with unchanged options changes no file.
func EnsurePKI(opts PKIOptions) (*PKI, error) {
	if opts.Dir == "" {
		return nil, errors.New("PKI directory is not set")
	}
	apiSANs, err := apiServerSANs(opts)
	if err != nil {
		return nil, err
	}
	etcdSANs, err := etcdServerSANs(opts)
	if err != nil {
		return nil, err
	}

	p := newPKIPaths(opts.Dir)
	for _, dir := range []string{opts.Dir, filepath.Join(opts.Dir, etcdDirName)} {
		if err := ensurePrivateDir(dir); err != nil {
			return nil, err
		}
	}

	now := time.Now()
	p.CA, p.CAKey, err = ensureCA(p.CAFile, p.CAKeyFile, "kite-server-ca", now)
	if err != nil {
		return nil, err
	}
	etcdCA, etcdCAKey, err := ensureCA(p.EtcdCAFile, p.EtcdCAKeyFile, "kite-etcd-ca", now)
	if err != nil {
		return nil, err
	}

	leaves := []struct {
		cert, key string
		ca        *x509.Certificate
		caKey     crypto.Signer
		spec      certSpec
	}{
		{p.ServingCertFile, p.ServingKeyFile, p.CA, p.CAKey, certSpec{
			commonName: "kube-apiserver",
			sans:       apiSANs,
			usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{p.AdminCertFile, p.AdminKeyFile, p.CA, p.CAKey, certSpec{
			commonName: adminUser,
			orgs:       []string{adminGroup},
			usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
		{p.KubeletClientCertFile, p.KubeletClientKeyFile, p.CA, p.CAKey, certSpec{
			commonName: kubeletClientUser,
			orgs:       []string{adminGroup},
			usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
		// etcd members dial each other with their server certificate, so
		// it must be valid for client auth too.
		{p.EtcdServerCertFile, p.EtcdServerKeyFile, etcdCA, etcdCAKey, certSpec{
			commonName: "etcd-server",
			sans:       etcdSANs,
			usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}},
		{p.EtcdClientCertFile, p.EtcdClientKeyFile, etcdCA, etcdCAKey, certSpec{
			commonName: etcdClient,
			usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
	}
	for _, l := range leaves {
		if err := ensureLeaf(l.cert, l.key, l.ca, l.caKey, l.spec, now); err != nil {
			return nil, err
		}
	}

	if err := ensureServiceAccountKey(p.ServiceAccountKeyFile); err != nil {
		return nil, err
	}
	return p, nil
}

// ensurePrivateDir creates dir if needed and forces mode 0700 even on an
// existing directory, because it holds private keys.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// ensureCA loads the CA at certPath/keyPath or creates it when absent.
//
// The key is written before the certificate and nothing is signed before the
// certificate exists, so a key without a certificate can only be left by a
// crash during creation and is safely replaced. A certificate without its
// key, however, may already be trusted by clients: that is an error for the
// operator to resolve, never something to paper over.
func ensureCA(certPath, keyPath, name string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	if !fileExists(certPath) {
		certPEM, keyPEM, err := newCA(name, now)
		if err != nil {
			return nil, nil, err
		}
		if err := writeFileAtomic(keyPath, keyPEM, keyFileMode); err != nil {
			return nil, nil, err
		}
		if err := writeFileAtomic(certPath, certPEM, certFileMode); err != nil {
			return nil, nil, err
		}
		slog.Info("created certificate authority", "component", "pki", "cert", certPath)
	}
	if !fileExists(keyPath) {
		return nil, nil, fmt.Errorf("CA certificate %s exists but its key %s is missing: restore the key, or remove both to create a new CA (which invalidates every certificate and kubeconfig issued so far)", certPath, keyPath)
	}
	cert, err := readCert(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, nil, fmt.Errorf("CA key %s does not match certificate %s", keyPath, certPath)
	}
	if now.After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("CA certificate %s expired on %s: a new CA must be created and distributed to every client", certPath, cert.NotAfter.Format(time.RFC3339))
	}
	return cert, key, nil
}

// ensureLeaf keeps the certificate at certPath if it still fits spec and
// issues a new one from ca otherwise. The key is written first: a crash in
// between leaves a mismatched pair, which the next start detects and fixes.
func ensureLeaf(certPath, keyPath string, ca *x509.Certificate, caKey crypto.Signer, spec certSpec, now time.Time) error {
	reason := "missing"
	if fileExists(certPath) && fileExists(keyPath) {
		cert, certErr := readCert(certPath)
		key, keyErr := readKey(keyPath)
		switch {
		case certErr != nil:
			reason = certErr.Error()
		case keyErr != nil:
			reason = keyErr.Error()
		default:
			reason = leafProblem(cert, key, ca, spec, now)
		}
		if reason == "" {
			return nil
		}
	}
	certPEM, keyPEM, err := issueLeaf(ca, caKey, spec, now)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, keyPEM, keyFileMode); err != nil {
		return err
	}
	if err := writeFileAtomic(certPath, certPEM, certFileMode); err != nil {
		return err
	}
	slog.Info("issued certificate", "component", "pki", "cert", certPath, "cn", spec.commonName, "reason", reason)
	return nil
}

// ensureServiceAccountKey creates the key that signs service-account tokens.
// It is never rotated here: rotating it would invalidate every token that
// pods hold.
func ensureServiceAccountKey(path string) error {
	if fileExists(path) {
		if _, err := readKey(path); err != nil {
			return fmt.Errorf("load service-account key: %w", err)
		}
		return nil
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, keyPEM, keyFileMode); err != nil {
		return err
	}
	slog.Info("created service-account signing key", "component", "pki", "key", path)
	return nil
}

// IssueClientCert signs a new client certificate for user cn in groups orgs
// with the cluster CA, e.g. for a joining node (system:node:<name>,
// system:nodes). The key is generated here and returned; nothing is stored.
func (p *PKI) IssueClientCert(cn string, orgs []string) (certPEM, keyPEM []byte, err error) {
	if cn == "" {
		return nil, nil, errors.New("client certificate needs a common name (the user name)")
	}
	return issueLeaf(p.CA, p.CAKey, certSpec{
		commonName: cn,
		orgs:       orgs,
		usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, time.Now())
}
