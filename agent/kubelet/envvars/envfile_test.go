package envvars

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvFileValue(t *testing.T) {
	tests := []struct {
		name, content, key string
		want               string
		wantErr            string
	}{
		{name: "simple", content: "A='1'\nB='2'\n", key: "B", want: "2"},
		{name: "absent", content: "A='1'\n", key: "Z", want: ""},
		{name: "comments and blanks", content: "# c\n\n   \n  A='x' # note\n", key: "A", want: "x"},
		{name: "literal content", content: "A='$(B) \"q\" \\n'\n", key: "A", want: "$(B) \"q\" \\n"},
		{name: "multi-line", content: "A='line1\nline2'\nB='b'\n", key: "A", want: "line1\nline2"},
		{name: "key after multi-line", content: "A='line1\nline2'\nB='b'\n", key: "B", want: "b"},
		{name: "space after equals is empty", content: "A= 'x'\n", key: "A", want: ""},
		{name: "space before equals", content: "A ='x'\n", key: "A", wantErr: "whitespace before '=' is not allowed"},
		{name: "unquoted", content: "A=x\n", key: "A", wantErr: "must be enclosed in single quotes"},
		{name: "missing equals", content: "A\n", key: "A", wantErr: "missing '='"},
		{name: "empty name", content: "='x'\n", key: "A", wantErr: "empty variable name"},
		{name: "trailing junk", content: "A='x' y\n", key: "A", wantErr: "unexpected content after closing quote"},
		{name: "unclosed", content: "A='x\n", key: "A", wantErr: "starting at line 1: unclosed single quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "env")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := envFileValue(path, tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
