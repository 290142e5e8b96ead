package apiserver

import (
	"log/slog"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"

	"kite/server/auth"
)

// authenticate identifies the caller by client certificate (the
// configured authenticator) or else by a service-account bearer token.
func (s *Server) authenticate(r *http.Request) (user.Info, bool) {
	if u, ok := s.cfg.Authenticate(r); ok {
		return u, true
	}
	token, ok := bearerToken(r)
	if !ok || s.cfg.TokenIssuer == nil {
		return nil, false
	}
	u, err := s.cfg.TokenIssuer.Authenticate(r.Context(), token, objectLookup{s})
	if err != nil {
		if !auth.IsNotServiceAccountToken(err) {
			slog.Debug("bearer token refused", "component", "apiserver", "err", err)
		}
		return nil, false
	}
	return u, true
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// serveServiceAccountIssuer answers the OpenID discovery of the
// service-account issuer, so other systems can verify pod tokens.
func (s *Server) serveServiceAccountIssuer(w http.ResponseWriter, r *http.Request) {
	tokens := s.cfg.TokenIssuer
	if tokens == nil || r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	var body []byte
	var err error
	contentType := "application/json"
	if r.URL.Path == oidcConfigPath {
		body, err = tokens.OpenIDConfiguration()
	} else {
		body, err = tokens.JWKS()
		contentType = "application/jwk-set+json"
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	// The keys change only when the key file does: an hour, as upstream.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(body)
}

// The service-account issuer's discovery paths.
const (
	oidcConfigPath = "/.well-known/openid-configuration"
	oidcKeysPath   = "/openid/v1/jwks"
)
