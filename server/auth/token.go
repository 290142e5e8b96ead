package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Join token forms, as k3s's: the full form pins the cluster CA by the
// SHA-256 of the PEM bundle served at /cacerts; the bare form is only the
// secret.
const (
	tokenPrefix  = "K10"
	tokenUser    = "server"
	caHashHexLen = sha256.Size * 2
	secretBytes  = 24
)

// Token is a parsed join token.
type Token struct {
	// CAHash is the hex SHA-256 of the cluster CA PEM, empty for a bare
	// secret.
	CAHash string
	// Secret authenticates joining nodes and servers.
	Secret string
}

// ParseToken accepts the full form K10<ca-hash>::server:<secret> or a bare
// secret.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, errors.New("the token is empty")
	}
	if strings.HasPrefix(s, tokenPrefix) && strings.Contains(s, "::") {
		hash, rest, _ := strings.Cut(s[len(tokenPrefix):], "::")
		if len(hash) != caHashHexLen {
			return Token{}, fmt.Errorf("the token's CA hash must be %d hex digits, it has %d", caHashHexLen, len(hash))
		}
		if _, err := hex.DecodeString(hash); err != nil {
			return Token{}, errors.New("the token's CA hash is not hexadecimal")
		}
		user, secret, ok := strings.Cut(rest, ":")
		if !ok || user != tokenUser {
			return Token{}, fmt.Errorf("the token must read K10<ca-hash>::%s:<secret>", tokenUser)
		}
		if err := checkSecret(secret); err != nil {
			return Token{}, err
		}
		return Token{CAHash: strings.ToLower(hash), Secret: secret}, nil
	}
	if err := checkSecret(s); err != nil {
		return Token{}, err
	}
	return Token{Secret: s}, nil
}

func checkSecret(s string) error {
	if s == "" {
		return errors.New("the token's secret is empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return errors.New("the token's secret may not contain white space")
	}
	return nil
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

// CAHash is the hex SHA-256 of the CA PEM bytes, the pin in a full token.
func CAHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// CAHMAC is the hex HMAC-SHA256 of the CA PEM bytes keyed with the
// secret: what lets a bare-secret token verify /cacerts.
func CAHMAC(secret string, caPEM []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(caPEM)
	return hex.EncodeToString(mac.Sum(nil))
}

// NewSecret returns a random secret for a new cluster.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the token secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
