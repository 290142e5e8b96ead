package joinprotocol

import "testing"

func TestCAHash(t *testing.T) {
	// The SHA-256 of "pem", from `printf pem | sha256sum`.
	const want = "f0aeace912cf19dc1c6fffd41de6e395daeb5462f1221945706bd0674c3005eb"
	if got := CAHash([]byte("pem")); got != want {
		t.Fatalf("CAHash = %s, want %s", got, want)
	}
}

func TestCAHMAC(t *testing.T) {
	ca := []byte("pem")
	// The HMAC-SHA256 of "pem" keyed with "a", from
	// `printf pem | openssl dgst -sha256 -hmac a`.
	const want = "ed7c0da49a09eacdc8ce70aea4baef0ecae299aa6e07f14cd35f6487538f7685"
	if got := CAHMAC("a", ca); got != want || CAHMAC("b", ca) == want {
		t.Fatalf("CAHMAC = %s, want %s", got, want)
	}
}
