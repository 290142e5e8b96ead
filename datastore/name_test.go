package datastore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMemberName(t *testing.T) {
	tests := []struct {
		name    string
		stored  string // contents of the name file, "" for none
		hasData bool
		wanted  string
		want    string // "" means a generated <hostname>-<hex> name
	}{
		{"new member takes wanted", "", false, "node-a", "node-a"},
		{"new member generates", "", false, "", ""},
		{"restart keeps stored", "node-a", true, "node-a", "node-a"},
		{"restart ignores rename", "node-a", true, "node-b", "node-a"},
		{"restart keeps stored without wanted", "node-a", true, "", "node-a"},
		{"stored name without data is not binding", "node-a", false, "node-b", "node-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.stored != "" {
				if err := os.WriteFile(filepath.Join(dir, nameFile), []byte(tt.stored+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tt.hasData {
				if err := os.MkdirAll(filepath.Join(dir, "member", "wal"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			got, err := memberName(dir, tt.wanted)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("name %q, want %q", got, tt.want)
			}
			host, _ := os.Hostname()
			if tt.want == "" && !strings.HasPrefix(got, host+"-") {
				t.Fatalf("generated name %q lacks hostname prefix", got)
			}
			stored, err := os.ReadFile(filepath.Join(dir, nameFile))
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(stored)) != got {
				t.Fatalf("stored %q, returned %q", stored, got)
			}
			// Asking again gives the same answer, generated names included.
			if tt.want == "" {
				if err := os.MkdirAll(filepath.Join(dir, "member", "wal"), 0o700); err != nil {
					t.Fatal(err)
				}
				again, err := memberName(dir, "")
				if err != nil || again != got {
					t.Fatalf("second call %q, %v; want %q", again, err, got)
				}
			}
		})
	}
}
