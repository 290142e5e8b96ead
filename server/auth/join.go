package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"kite/internal/joinprotocol"
)

// Node identity, as upstream's node authorizer and kubelets expect it.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// ClusterNetwork is the part of the cluster's configuration a node needs.
type ClusterNetwork struct {
	ClusterCIDR   string
	ServiceCIDR   string
	ClusterDNS    string
	ClusterDomain string
	Disabled      []string // packaged parts no node runs (dns, ingress)
}

// InvalidJoinError says what is wrong with a join request; the API server
// answers it with 400.
type InvalidJoinError struct{ msg string }

func (e *InvalidJoinError) Error() string { return e.msg }

func invalidJoin(format string, args ...any) error {
	return &InvalidJoinError{msg: fmt.Sprintf(format, args...)}
}

// NodeJoiner admits nodes that know the cluster secret: it serves the CA
// and signs their client and serving certificates.
type NodeJoiner struct {
	token   joinprotocol.Token
	caPEM   []byte
	ca      *x509.Certificate
	caKey   crypto.Signer
	network ClusterNetwork
	now     func() time.Time
}

// NewNodeJoiner returns a joiner for the cluster of pki, whose join secret
// is token's.
func NewNodeJoiner(pki *PKI, token joinprotocol.Token, network ClusterNetwork) (*NodeJoiner, error) {
	caPEM, err := os.ReadFile(pki.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	return &NodeJoiner{token: token, caPEM: caPEM, ca: pki.CA, caKey: pki.CAKey, network: network, now: time.Now}, nil
}

// CAPEM is the cluster CA bundle served at /cacerts.
func (j *NodeJoiner) CAPEM() []byte { return j.caPEM }

// CAHMAC is the HMAC of the CA bundle keyed with the join secret.
func (j *NodeJoiner) CAHMAC() string { return joinprotocol.CAHMAC(j.token.Secret, j.caPEM) }

// Authorized reports, in constant time, whether secret is the join secret.
func (j *NodeJoiner) Authorized(secret string) bool { return j.token.SecretMatches(secret) }

// Join checks req and signs its certificates: the client certificate
// names the user system:node:<name> in group system:nodes, the serving
// certificate holds the node's name, host names and addresses.
func (j *NodeJoiner) Join(req joinprotocol.NodeRequest) (*joinprotocol.NodeResponse, error) {
	if msgs := validation.IsDNS1123Subdomain(req.NodeName); len(msgs) > 0 {
		return nil, invalidJoin("nodeName %q is not a valid node name: %s", req.NodeName, strings.Join(msgs, ", "))
	}
	var ips []net.IP
	for _, s := range req.NodeIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, invalidJoin("nodeIPs: %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}
	names := []string{req.NodeName}
	for _, h := range req.Hostnames {
		if msgs := validation.IsDNS1123Subdomain(h); len(msgs) > 0 {
			return nil, invalidJoin("hostnames: %q is not a valid host name: %s", h, strings.Join(msgs, ", "))
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	user := NodeUserPrefix + req.NodeName

	clientCSR, err := parseCSR("clientCSR", req.ClientCSR)
	if err != nil {
		return nil, err
	}
	if clientCSR.Subject.CommonName != user {
		return nil, invalidJoin("clientCSR: the common name must be %q, not %q", user, clientCSR.Subject.CommonName)
	}
	if orgs := clientCSR.Subject.Organization; len(orgs) > 0 && !slices.Equal(orgs, []string{NodesGroup}) {
		return nil, invalidJoin("clientCSR: the organization may only be %q, not %q", NodesGroup, orgs)
	}
	if len(clientCSR.DNSNames)+len(clientCSR.IPAddresses)+len(clientCSR.EmailAddresses)+len(clientCSR.URIs) > 0 {
		return nil, invalidJoin("clientCSR: a client certificate request may not ask for subject alternative names")
	}

	servingCSR, err := parseCSR("servingCSR", req.ServingCSR)
	if err != nil {
		return nil, err
	}
	for _, n := range servingCSR.DNSNames {
		if !slices.Contains(names, n) {
			return nil, invalidJoin("servingCSR: DNS name %q is neither the node name nor one of its host names", n)
		}
	}
	for _, ip := range servingCSR.IPAddresses {
		if !slices.ContainsFunc(ips, ip.Equal) {
			return nil, invalidJoin("servingCSR: IP address %s is not one of the node's addresses", ip)
		}
	}
	if len(servingCSR.EmailAddresses)+len(servingCSR.URIs) > 0 {
		return nil, invalidJoin("servingCSR: only DNS names and IP addresses may be asked for")
	}

	now := j.now()
	clientPEM, err := j.sign(clientCSR.PublicKey, certSpec{
		commonName: user,
		orgs:       []string{NodesGroup},
		usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, now)
	if err != nil {
		return nil, err
	}
	servingPEM, err := j.sign(servingCSR.PublicKey, certSpec{
		commonName: user,
		orgs:       []string{NodesGroup},
		sans:       sanSet{dns: names, ips: ips},
		usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, now)
	if err != nil {
		return nil, err
	}
	return &joinprotocol.NodeResponse{
		ClientCert:    string(clientPEM),
		ServingCert:   string(servingPEM),
		CACert:        string(j.caPEM),
		ClusterCIDR:   j.network.ClusterCIDR,
		ServiceCIDR:   j.network.ServiceCIDR,
		ClusterDNS:    j.network.ClusterDNS,
		ClusterDomain: j.network.ClusterDomain,
		Disabled:      j.network.Disabled,
	}, nil
}

// parseCSR decodes and checks a PEM certificate request: it must be
// signed by its own key, which must be one of the algorithms Kubernetes
// clients use at a safe size.
func parseCSR(field, data string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(data))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, invalidJoin("%s: not a PEM CERTIFICATE REQUEST", field)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, invalidJoin("%s: %v", field, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, invalidJoin("%s: the request is not signed by its key: %v", field, err)
	}
	switch pub := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() && pub.Curve != elliptic.P521() {
			return nil, invalidJoin("%s: ECDSA keys must use P-256, P-384 or P-521", field)
		}
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, invalidJoin("%s: RSA keys must have at least 2048 bits, this one has %d", field, pub.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return nil, invalidJoin("%s: unsupported public key algorithm %s", field, csr.PublicKeyAlgorithm)
	}
	return csr, nil
}

// sign issues a certificate for pub from the cluster CA.
func (j *NodeJoiner) sign(pub crypto.PublicKey, spec certSpec, now time.Time) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(j.ca.NotAfter) {
		notAfter = j.ca.NotAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		// RSA key exchange in TLS enciphers with the key.
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.orgs},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     usage,
		ExtKeyUsage:  spec.usages,
		DNSNames:     spec.sans.dns,
		IPAddresses:  spec.sans.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, j.ca, pub, j.caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate of %q: %w", spec.commonName, err)
	}
	return encodeCertPEM(der), nil
}

// IsInvalidJoin reports whether err is a problem with the request.
func IsInvalidJoin(err error) bool {
	var e *InvalidJoinError
	return errors.As(err, &e)
}
