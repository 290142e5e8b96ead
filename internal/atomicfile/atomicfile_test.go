package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		existing string // content before, "" for no file
		data     string
		mode     os.FileMode
	}{
		{name: "new file", data: "hello", mode: 0o644},
		{name: "secret file", data: "key", mode: 0o600},
		{name: "replaces a file", existing: "old content, longer than the new", data: "new", mode: 0o640},
		{name: "empty data", existing: "old", data: "", mode: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, []byte(tt.data), tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tt.data {
				t.Fatalf("content %q (%v), want %q", got, err, tt.data)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != tt.mode {
				t.Fatalf("mode %v (%v), want %v", fi.Mode().Perm(), err, tt.mode)
			}
			assertOnly(t, dir, "file")
		})
	}
}

func TestWriteFileFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	// A directory cannot be replaced by a file: the rename fails after the
	// temporary file was written.
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "inside"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(target, []byte("x"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "rename") {
		t.Fatalf("err = %v, want a rename error", err)
	}
	assertOnly(t, dir, "target")

	if err := WriteFile(filepath.Join(dir, "missing", "file"), []byte("x"), 0o600); err == nil || !strings.Contains(err.Error(), "create temporary file") {
		t.Fatalf("writing into a missing directory: err = %v, want a create error", err)
	}
}

// assertOnly fails unless dir holds exactly the named entry: no temporary
// file is left behind.
func assertOnly(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %q, want only %q", names, name)
	}
}
