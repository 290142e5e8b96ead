package joinprotocol

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Join token forms, as k3s's: the full form K10<ca-hash>::server:<secret>
// pins the cluster CA by the SHA-256 of the PEM bundle served at
// /cacerts; the bare form is only the secret.
const (
	tokenPrefix  = "K10"
	tokenUser    = "server"
	caHashHexLen = sha256.Size * 2
	secretBytes  = 24
)

// Token is a parsed join token.
type Token struct {
	// CAHash is the hex SHA-256 of the cluster CA PEM, empty for a bare
	// secret, whose CA is checked by HMAC instead.
	CAHash string
	// Secret authenticates joining nodes and servers.
	Secret string
}

// ParseToken accepts the full form or a bare secret. Surrounding white
// space is the caller's to trim (a token read from a file ends in a
// newline); inside a token it is an error.
func ParseToken(s string) (Token, error) {
	if s == "" {
		return Token{}, errors.New("the join token is empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Token{}, errors.New("the join token contains whitespace")
	}
	// Only K10...::... is the full form, anything else is a bare secret
	// (which may contain colons).
	if !strings.HasPrefix(s, tokenPrefix) || !strings.Contains(s, "::") {
		return Token{Secret: s}, nil
	}
	const form = "expected K10<sha256 of the CA>::server:<secret> or the bare secret"
	hash, creds, _ := strings.Cut(strings.TrimPrefix(s, tokenPrefix), "::")
	if len(hash) != caHashHexLen {
		return Token{}, fmt.Errorf("the join token's CA hash has %d characters, want %d: %s", len(hash), caHashHexLen, form)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, fmt.Errorf("the join token's CA hash is not hex: %s", form)
	}
	user, secret, ok := strings.Cut(creds, ":")
	if !ok || secret == "" {
		return Token{}, fmt.Errorf("the join token has no secret: %s", form)
	}
	if user != tokenUser {
		return Token{}, fmt.Errorf("the join token is for %q, but only server tokens are supported: %s", user, form)
	}
	return Token{CAHash: strings.ToLower(hash), Secret: secret}, nil
}

// String is the full form when the CA hash is known, else the bare secret.
func (t Token) String() string {
	if t.CAHash == "" {
		return t.Secret
	}
	return tokenPrefix + t.CAHash + "::" + tokenUser + ":" + t.Secret
}

// WithCA returns the full form of t for the CA PEM bundle caPEM; a token
// that already pins a different CA is an error.
func (t Token) WithCA(caPEM []byte) (Token, error) {
	hash := CAHash(caPEM)
	if t.CAHash != "" && t.CAHash != hash {
		return Token{}, fmt.Errorf("the token pins CA hash %s but this cluster's CA certificate hashes to %s: the token belongs to another cluster", t.CAHash, hash)
	}
	return Token{CAHash: hash, Secret: t.Secret}, nil
}

// SecretMatches reports, in constant time, whether given is the secret.
func (t Token) SecretMatches(given string) bool {
	return subtle.ConstantTimeCompare([]byte(given), []byte(t.Secret)) == 1
}

// NewSecret returns a random secret for a new cluster.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the token secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
