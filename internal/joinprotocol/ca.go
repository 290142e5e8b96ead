package joinprotocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// CAHMACHeader is the /cacerts response header carrying CAHMAC of the
// body, so a node holding only the bare secret can trust the CA too.
const CAHMACHeader = "Kite-CA-HMAC"

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
