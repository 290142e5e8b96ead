package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// certTable maps TLS server names to certificates; it is part of a
// routeTable snapshot, so a Secret change swaps it with the routes.
type certTable struct {
	exact map[string]*tls.Certificate
	// wildcard is keyed by parent domain, as routeTable.wildcardHosts.
	wildcard map[string]*tls.Certificate
}

func newCertTable() *certTable {
	return &certTable{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
}

// add files cert under host unless an older Ingress already claimed the host.
func (c *certTable) add(host string, cert *tls.Certificate) {
	m, key := c.exact, host
	if strings.HasPrefix(host, "*.") {
		m, key = c.wildcard, host[2:]
	}
	if _, taken := m[key]; !taken {
		m[key] = cert
	}
}

// lookup returns the certificate for an SNI name, or nil.
func (c *certTable) lookup(serverName string) *tls.Certificate {
	if cert := c.exact[serverName]; cert != nil {
		return cert
	}
	if parent, ok := wildcardParent(serverName); ok {
		return c.wildcard[parent]
	}
	return nil
}

// selfSignedCertificate makes the certificate served to clients whose SNI
// names no host with a Secret, as other ingress controllers do with their
// "fake" default certificate.
func selfSignedCertificate(now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate default certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate default certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Kite Ingress Default Certificate", Organization: []string{"kite"}},
		DNSNames:              []string{"ingress.local"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create default certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse default certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
