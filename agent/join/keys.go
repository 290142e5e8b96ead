package join

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
)

// loadOrCreateKey returns the ECDSA P-256 key at path, or a new one (not
// yet written) when the file is missing or unusable. Reusing the key keeps
// the node's identity across restarts and re-joins.
func loadOrCreateKey(path string) (key *ecdsa.PrivateKey, keyPEM []byte, err error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := parseECKey(data)
		if err == nil {
			return key, data, nil
		}
		// The certificates are reissued for whatever key is sent, so a
		// damaged key costs nothing but a new one.
		slog.Warn("replacing unusable private key", "component", "join", "path", path, "err", err)
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// parseECKey reads an "EC PRIVATE KEY" (SEC 1) or PKCS #8 PEM P-256 key.
func parseECKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return ec, nil
}

// nodeSubject is the identity the node authorizer and the kubelet API's
// callers expect: system:node:<name> in group system:nodes.
func nodeSubject(nodeName string) pkix.Name {
	return pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}}
}

// newCSR returns a PEM certificate request for key with the node's subject
// and the given subject alternative names.
func newCSR(key *ecdsa.PrivateKey, nodeName string, dnsNames []string, ips []net.IP) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     nodeSubject(nodeName),
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// checkIssued parses an issued certificate and checks that it carries our
// key, chains to the cluster CA for the given usage and names this node.
func checkIssued(certPEM []byte, key *ecdsa.PrivateKey, roots *x509.CertPool, usage x509.ExtKeyUsage, nodeName string) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("it is not for the key this node sent")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("it does not verify against the cluster CA: %w", err)
	}
	if want := nodeSubject(nodeName).CommonName; cert.Subject.CommonName != want {
		return fmt.Errorf("it names %q, want %q", cert.Subject.CommonName, want)
	}
	return nil
}
