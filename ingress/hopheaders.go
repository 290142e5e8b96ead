package ingress

import (
	"net/http"
	"net/textproto"
	"strings"
)

// isHopByHop reports whether a header (in canonical form) describes one
// connection rather than the message (RFC 9110 §7.6.1 and the proxy
// headers of RFC 9110 §11.7), so a proxy must not forward it.
func isHopByHop(key string) bool {
	switch key {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding",
		"Upgrade", "Proxy-Authenticate", "Proxy-Authorization":
		return true
	}
	return false
}

// connectionListed reports whether the Connection header values name key
// as a header of this connection only.
func connectionListed(connection []string, key string) bool {
	for _, v := range connection {
		for v != "" {
			var token string
			token, v, _ = strings.Cut(v, ",")
			if token = textproto.TrimString(token); token != "" && strings.EqualFold(token, key) {
				return true
			}
		}
	}
	return false
}

// forwardable reports whether header key of a message with the given
// Connection values passes a proxy.
func forwardable(key string, connection []string) bool {
	return !isHopByHop(key) && (len(connection) == 0 || !connectionListed(connection, key))
}

// upgradeOf returns the protocol a request or response asks to switch to,
// or "" when it does not.
func upgradeOf(h http.Header) string {
	if !connectionListed(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}
