package server

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Callers the kubelet API admits: cluster administrators and the API
// server's kubelet client (which carries logs, exec and port-forward).
const (
	mastersGroup        = "system:masters"
	apiServerClientUser = "kube-apiserver-kubelet-client"
	adminUser           = "system:admin"
)

// caller is the identity of a verified client certificate.
type caller struct {
	name   string
	groups []string
}

// callerOf returns the identity of the request's client certificate; the
// TLS handshake has already verified it against the cluster CA.
func callerOf(r *http.Request) (caller, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return caller{}, false
	}
	cert := r.TLS.VerifiedChains[0][0]
	if !hasClientAuth(cert) {
		return caller{}, false
	}
	return caller{name: cert.Subject.CommonName, groups: cert.Subject.Organization}, true
}

func hasClientAuth(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny)
}

func (c caller) allowed() bool {
	return c.name == apiServerClientUser || c.name == adminUser || slices.Contains(c.groups, mastersGroup)
}

// attributes names a request the way the kubelet's authorizer does: verb
// from the method, resource nodes, subresource from the path.
func attributes(r *http.Request) (verb, subresource string) {
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	default:
		verb = "get"
	}
	subresource = "proxy"
	switch first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); first {
	case "stats":
		subresource = "stats"
	case "metrics":
		subresource = "metrics"
	case "logs":
		subresource = "log"
	}
	return verb, subresource
}

// withAuth lets /healthz through and requires an authorised client
// certificate for everything else.
func withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		c, ok := callerOf(r)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if !c.allowed() {
			verb, sub := attributes(r)
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource(s)=[%s])", c.name, verb, sub), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
