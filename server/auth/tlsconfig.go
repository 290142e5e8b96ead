package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// CAPool returns a pool holding only the cluster CA, for verifying the API
// server (as a client) or client certificates (as a server).
func (p *PKI) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

// ServingTLSConfig is the API server's TLS configuration. Client
// certificates are optional at the TLS layer (bearer tokens and anonymous
// health checks must still connect) but, when given, must chain to the
// cluster CA; UserFromRequest then trusts the verified chain.
func (p *PKI) ServingTLSConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.ServingCertFile, p.ServingKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load API serving certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.CAPool(),
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}
