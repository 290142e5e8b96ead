package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"slices"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore: a leaf certificate closer than this to expiry is
	// re-issued at start, so a server restarted at least once a quarter
	// never serves an expired certificate.
	renewBefore = 90 * 24 * time.Hour
	// backdate tolerates small clock differences between nodes: a freshly
	// issued certificate must already be valid on a node whose clock is
	// slightly behind.
	backdate = 5 * time.Minute
)

// certSpec describes a leaf certificate: its subject, names and purposes.
type certSpec struct {
	commonName string
	orgs       []string
	sans       sanSet
	usages     []x509.ExtKeyUsage
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA P-256 key: %w", err)
	}
	return key, nil
}

// newSerial returns a random 128-bit serial; random serials keep two
// certificates issued in the same second by different servers distinct.
func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

// newCA creates a self-signed CA certificate and key. The CommonName carries
// the creation time, as k3s does, so two clusters' CAs are told apart.
func newCA(name string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", name, now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertPEM(der), keyPEM, nil
}

// issueLeaf creates a new key and a certificate for it signed by the CA.
// A fresh key each time keeps the code simple and costs nothing noticeable
// with P-256.
func issueLeaf(ca *x509.Certificate, caKey crypto.Signer, spec certSpec, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(leafValidity)
	// A leaf must not outlive its CA: verifiers reject the chain anyway once
	// the CA expires, and a clear NotAfter makes the renewal check honest.
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.orgs},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  spec.usages,
		DNSNames:     spec.sans.dns,
		IPAddresses:  spec.sans.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate for %q: %w", spec.commonName, err)
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertPEM(der), keyPEM, nil
}

// leafProblem says why an existing leaf certificate cannot be kept, or
// returns "" when it is still good. Each reason is logged when re-issuing so
// operators see why a certificate changed.
func leafProblem(cert *x509.Certificate, key crypto.Signer, ca *x509.Certificate, spec certSpec, now time.Time) string {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return "private key does not match certificate"
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return "not signed by the current CA"
	}
	if now.Before(cert.NotBefore) {
		return "not yet valid"
	}
	if cert.NotAfter.Sub(now) < renewBefore {
		return fmt.Sprintf("expires %s, within %s", cert.NotAfter.Format(time.RFC3339), renewBefore)
	}
	if cert.Subject.CommonName != spec.commonName || !sameStrings(cert.Subject.Organization, spec.orgs) {
		return "subject changed"
	}
	for _, u := range spec.usages {
		if !slices.Contains(cert.ExtKeyUsage, u) {
			return "missing extended key usage"
		}
	}
	if !spec.sans.coveredBy(cert) {
		return "subject alternative names do not cover the wanted set"
	}
	return ""
}

// sameStrings compares two lists as sets.
func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
