package join

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// CAHMACHeader carries hex HMAC-SHA256(key=secret, msg=/cacerts body), so a
// bare-secret token can verify the CA too.
const CAHMACHeader = "Kite-CA-HMAC"

// errCAMismatch is what the user sees when the CA fails verification:
// either the token is wrong or --server points at another cluster (or
// something in between).
var errCAMismatch = errors.New("the server's CA does not match the token; check --token and --server")

// verifyCA checks the /cacerts body against the token: by its hash for a
// full token, by the HMAC header for a bare secret. It returns the parsed
// CA pool.
func verifyCA(body []byte, hmacHeader string, tok token) (*x509.CertPool, error) {
	if tok.caHash != "" {
		sum := sha256.Sum256(body)
		if !hmac.Equal([]byte(hex.EncodeToString(sum[:])), []byte(tok.caHash)) {
			return nil, errCAMismatch
		}
	} else {
		got, err := hex.DecodeString(strings.TrimSpace(hmacHeader))
		if err != nil || len(got) == 0 {
			return nil, fmt.Errorf("%w (the server sent no valid %s header)", errCAMismatch, CAHMACHeader)
		}
		mac := hmac.New(sha256.New, []byte(tok.secret))
		mac.Write(body)
		if !hmac.Equal(mac.Sum(nil), got) {
			return nil, errCAMismatch
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(body) {
		return nil, errors.New("the server's /cacerts answer holds no PEM certificate")
	}
	return pool, nil
}
