package joinprotocol

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
		{in: "s3cr3t", want: Token{Secret: "s3cr3t"}},
		{in: "K10" + hash + "::server:s3cr3t", want: Token{CAHash: hash, Secret: "s3cr3t"}},
		{in: "K10" + strings.ToUpper(hash) + "::server:s3cr3t", want: Token{CAHash: hash, Secret: "s3cr3t"}},
		// A secret may itself contain colons.
		{in: "K10" + hash + "::server:a:b", want: Token{CAHash: hash, Secret: "a:b"}},
		{in: "", wantErr: "empty"},
		{in: "a b", wantErr: "whitespace"},
		// Trimming a token read from a file is the caller's job.
		{in: "  s3cr3t\n", wantErr: "whitespace"},
		// Without both the prefix and "::" it is a bare secret.
		{in: "K10" + hash, want: Token{Secret: "K10" + hash}},
		{in: hash + "::server:x", want: Token{Secret: hash + "::server:x"}},
		{in: "K10abc::server:x", wantErr: "want 64"},
		{in: "K10" + strings.Repeat("zz", 32) + "::server:x", wantErr: "not hex"},
		{in: "K10" + hash + "::server:", wantErr: "no secret"},
		{in: "K10" + hash + "::server", wantErr: "no secret"},
		{in: "K10" + hash + "::node:x", wantErr: "only server tokens"},
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

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || len(a) != 2*secretBytes {
		t.Fatalf("NewSecret gave %q and %q, want two different %d-digit secrets", a, b, 2*secretBytes)
	}
	if tok, err := ParseToken(a); err != nil || tok.Secret != a || tok.CAHash != "" {
		t.Fatalf("a new secret does not parse as a bare token: %+v, %v", tok, err)
	}
}
