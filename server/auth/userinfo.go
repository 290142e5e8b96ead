package auth

import (
	"net/http"
	"slices"
)

// authenticatedGroup is added to every authenticated user, as
// kube-apiserver does, so RBAC bindings to it apply.
const authenticatedGroup = "system:authenticated"

// UserFromRequest returns the user named by the request's client
// certificate: the CommonName is the user name and the Organizations are
// the groups. Only a chain the TLS stack verified against the cluster CA
// counts (see ServingTLSConfig); a presented but unverified certificate, or
// one without a CommonName, authenticates nobody.
func UserFromRequest(r *http.Request) (username string, groups []string, ok bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", nil, false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if leaf.Subject.CommonName == "" {
		return "", nil, false
	}
	groups = slices.Clone(leaf.Subject.Organization)
	if !slices.Contains(groups, authenticatedGroup) {
		groups = append(groups, authenticatedGroup)
	}
	return leaf.Subject.CommonName, groups, true
}
