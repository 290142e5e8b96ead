package auth

import (
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Token
		wantErr string
	}{
		{in: "s3cret", want: Token{Secret: "s3cret"}},
		{in: "  s3cret\n", want: Token{Secret: "s3cret"}},
		{in: "K10" + hash + "::server:s3cret", want: Token{CAHash: hash, Secret: "s3cret"}},
		{in: "K10" + strings.ToUpper(hash) + "::server:s3cret", want: Token{CAHash: hash, Secret: "s3cret"}},
		// A secret may itself contain colons.
		{in: "K10" + hash + "::server:a:b", want: Token{CAHash: hash, Secret: "a:b"}},
		{in: "", wantErr: "empty"},
		{in: "K10abc::server:s", wantErr: "64 hex digits"},
		{in: "K10" + strings.Repeat("zz", 32) + "::server:s", wantErr: "not hexadecimal"},
		{in: "K10" + hash + "::node:s", wantErr: "K10<ca-hash>::server:<secret>"},
		{in: "K10" + hash + "::server:", wantErr: "secret is empty"},
		{in: "two words", wantErr: "white space"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseToken(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseToken(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseToken(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			again, err := ParseToken(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q gave %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestTokenWithCA(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	full, err := Token{Secret: "s"}.WithCA(ca)
	if err != nil {
		t.Fatal(err)
	}
	if want := "K10" + CAHash(ca) + "::server:s"; full.String() != want {
		t.Fatalf("full token %q, want %q", full, want)
	}
	if _, err := full.WithCA(ca); err != nil {
		t.Fatalf("a token pinning the same CA: %v", err)
	}
	if _, err := full.WithCA([]byte("another CA")); err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("a token pinning another CA: %v", err)
	}
}

func TestSecretMatches(t *testing.T) {
	tok := Token{Secret: "s3cret"}
	for given, want := range map[string]bool{"s3cret": true, "s3cre": false, "s3cret2": false, "": false} {
		if got := tok.SecretMatches(given); got != want {
			t.Errorf("SecretMatches(%q) = %v, want %v", given, got, want)
		}
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
