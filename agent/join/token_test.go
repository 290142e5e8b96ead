package join

import (
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    token
		wantErr string
	}{
		{in: "s3cr3t", want: token{secret: "s3cr3t"}},
		{in: "K10" + hash + "::server:s3cr3t", want: token{caHash: hash, secret: "s3cr3t"}},
		{in: "K10" + strings.ToUpper(hash) + "::server:a:b", want: token{caHash: hash, secret: "a:b"}},
		{in: "", wantErr: "empty"},
		{in: "a b", wantErr: "whitespace"},
		// Without both the prefix and "::" it is a bare secret, as the
		// server reads it.
		{in: "K10" + hash, want: token{secret: "K10" + hash}},
		{in: hash + "::server:x", want: token{secret: hash + "::server:x"}},
		{in: "K10abc::server:x", wantErr: "want 64"},
		{in: "K10" + strings.Repeat("zz", 32) + "::server:x", wantErr: "not hex"},
		{in: "K10" + hash + "::server:", wantErr: "no secret"},
		{in: "K10" + hash + "::server", wantErr: "no secret"},
		{in: "K10" + hash + "::node:x", wantErr: "only server tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseToken(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
