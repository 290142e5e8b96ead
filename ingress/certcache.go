package ingress

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// certCache keeps parsed key pairs so a rebuild caused by an endpoint change
// does not parse every certificate again. An entry is reused only while the
// Secret's bytes are unchanged.
type certCache struct {
	entries map[types.NamespacedName]cachedCert
}

type cachedCert struct {
	certPEM, keyPEM []byte
	cert            *tls.Certificate
	err             error
}

func newCertCache() *certCache {
	return &certCache{entries: map[types.NamespacedName]cachedCert{}}
}

// get returns the certificate of a TLS Secret, or the problem that keeps it
// from being used.
func (c *certCache) get(secrets corelisters.SecretLister, ns, name string) (*tls.Certificate, *problem) {
	key := types.NamespacedName{Namespace: ns, Name: name}
	secret, err := secrets.Secrets(ns).Get(name)
	if err != nil {
		delete(c.entries, key)
		return nil, &problem{"SecretNotFound", "TLS secret " + key.String() + " not found; the default certificate is served instead"}
	}
	if secret.Type != corev1.SecretTypeTLS {
		return nil, &problem{"InvalidSecret", "secret " + key.String() + " is not of type kubernetes.io/tls"}
	}
	certPEM, keyPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	entry, ok := c.entries[key]
	if !ok || !bytes.Equal(entry.certPEM, certPEM) || !bytes.Equal(entry.keyPEM, keyPEM) {
		entry = cachedCert{certPEM: certPEM, keyPEM: keyPEM}
		entry.cert, entry.err = parseKeyPair(certPEM, keyPEM)
		c.entries[key] = entry
	}
	if entry.err != nil {
		return nil, &problem{"InvalidCertificate", "TLS secret " + key.String() + ": " + entry.err.Error()}
	}
	return entry.cert, nil
}

func parseKeyPair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse key pair: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
	}
	return &cert, nil
}
