// Package join is the agent's side of joining a kite cluster: it checks the
// server's CA against the join token, has the server sign this node's
// client and serving certificates, and writes them with a kubeconfig.
package join

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// tokenPrefix starts the full token form K10<ca-hash>::server:<secret>,
// the form k3s users know.
const tokenPrefix = "K10"

// token is a parsed join token.
type token struct {
	// caHash is the hex SHA-256 of the CA bundle /cacerts serves; empty
	// for a bare secret, whose CA is checked by HMAC instead.
	caHash string
	secret string
}

// parseToken accepts the full form or a bare secret.
func parseToken(s string) (token, error) {
	if s == "" {
		return token{}, errors.New("the join token is empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return token{}, errors.New("the join token contains whitespace")
	}
	// The server reads tokens the same way: only K10...::... is the full
	// form, anything else is a bare secret (which may contain colons).
	if !strings.HasPrefix(s, tokenPrefix) || !strings.Contains(s, "::") {
		return token{secret: s}, nil
	}
	const form = "expected K10<sha256 of the CA>::server:<secret> or the bare secret"
	hash, creds, _ := strings.Cut(strings.TrimPrefix(s, tokenPrefix), "::")
	if len(hash) != 64 {
		return token{}, fmt.Errorf("the join token's CA hash has %d characters, want 64: %s", len(hash), form)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return token{}, fmt.Errorf("the join token's CA hash is not hex: %s", form)
	}
	user, secret, ok := strings.Cut(creds, ":")
	if !ok || secret == "" {
		return token{}, fmt.Errorf("the join token has no secret: %s", form)
	}
	if user != "server" {
		return token{}, fmt.Errorf("the join token is for %q, but only server tokens are supported: %s", user, form)
	}
	return token{caHash: strings.ToLower(hash), secret: secret}, nil
}
