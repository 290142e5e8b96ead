package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kite/internal/joinprotocol"
)

func TestEnsureToken(t *testing.T) {
	const caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	hash := joinprotocol.CAHash([]byte(caPEM))
	tests := []struct {
		name    string
		stored  string // token file before, "" for none
		given   string // --token
		secret  string // wanted secret, "" for any new one
		wantErr string
	}{
		{name: "new cluster", secret: ""},
		{name: "bare secret given", given: "s3cret", secret: "s3cret"},
		{name: "bare secret given with surrounding white space", given: " s3cret\n", secret: "s3cret"},
		{name: "full token given", given: "K10" + hash + "::server:s3cret", secret: "s3cret"},
		{name: "full token of another cluster", given: "K10" + strings.Repeat("0", 64) + "::server:s3cret", wantErr: "another cluster"},
		{name: "bare secret stored by an earlier kite", stored: "old-secret\n", secret: "old-secret"},
		{name: "full token stored", stored: "K10" + hash + "::server:kept\n", secret: "kept"},
		{name: "stored token pinning a replaced CA", stored: "K10" + strings.Repeat("1", 64) + "::server:kept\n", secret: "kept"},
		{name: "given wins over stored", stored: "old\n", given: "new", secret: "new"},
		{name: "malformed token given", given: "K10abc::server:x", wantErr: "--token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			caFile := filepath.Join(dir, "ca.crt")
			if err := os.WriteFile(caFile, []byte(caPEM), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.stored != "" {
				if err := os.WriteFile(filepath.Join(dir, "token"), []byte(tt.stored), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tok, err := ensureToken(dir, tt.given, caFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ensureToken() = %v, %v; want error containing %q", tok, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.CAHash != hash || (tt.secret != "" && tok.Secret != tt.secret) || tok.Secret == "" {
				t.Fatalf("token %+v, want secret %q pinning %s", tok, tt.secret, hash)
			}
			data, err := os.ReadFile(filepath.Join(dir, "token"))
			if err != nil || string(data) != tok.String()+"\n" {
				t.Fatalf("token file %q (%v), want %q", data, err, tok.String())
			}
			if fi, err := os.Stat(filepath.Join(dir, "token")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("token file mode %v (%v), want 0600", fi.Mode(), err)
			}
			again, err := ensureToken(dir, "", caFile)
			if err != nil || again != tok {
				t.Fatalf("restart gave %+v, %v; want the same token", again, err)
			}
		})
	}
}
