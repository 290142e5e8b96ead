package join

import (
	"crypto/hmac"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"kite/internal/joinprotocol"
)

// errCAMismatch is what the user sees when the CA fails verification:
// either the token is wrong or --server points at another cluster (or
// something in between).
var errCAMismatch = errors.New("the server's CA does not match the token; check --token and --server")

// verifyCA checks the /cacerts body against the token: by its hash for a
// full token, by the HMAC header for a bare secret. It returns the parsed
// CA pool.
func verifyCA(body []byte, hmacHeader string, tok joinprotocol.Token) (*x509.CertPool, error) {
	if tok.CAHash != "" {
		if !hmac.Equal([]byte(joinprotocol.CAHash(body)), []byte(tok.CAHash)) {
			return nil, errCAMismatch
		}
	} else {
		got := strings.ToLower(strings.TrimSpace(hmacHeader))
		if _, err := hex.DecodeString(got); err != nil || got == "" {
			return nil, fmt.Errorf("%w (the server sent no valid %s header)", errCAMismatch, joinprotocol.CAHMACHeader)
		}
		// Both are lowercase hex now, so equal strings are equal MACs.
		if !hmac.Equal([]byte(got), []byte(joinprotocol.CAHMAC(tok.Secret, body))) {
			return nil, errCAMismatch
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(body) {
		return nil, errors.New("the server's /cacerts answer holds no PEM certificate")
	}
	return pool, nil
}
