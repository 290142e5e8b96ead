package images

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadStaticBusyboxRefusesUnusableBinaries(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "busybox-script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho not busybox\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr string // "" means success
	}{
		{name: "debian busybox-static", path: busyboxPath},
		{name: "missing", path: filepath.Join(dir, "absent"), wantErr: "not found; apt-get install busybox-static"},
		{name: "not an ELF", path: text, wantErr: "not an ELF executable"},
		{name: "dynamically linked", path: "/bin/ls", wantErr: "dynamically linked; apt-get install busybox-static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "dynamically linked" && !hasInterpreter(t, tt.path) {
				t.Skipf("%s is not dynamically linked on this machine", tt.path)
			}
			binary, err := readStaticBusybox(tt.path)
			if tt.wantErr == "" {
				if err != nil || len(binary) == 0 {
					t.Fatalf("readStaticBusybox(%s) = %d bytes, %v; want the binary", tt.path, len(binary), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("readStaticBusybox(%s) error %v, want one containing %q", tt.path, err, tt.wantErr)
			}
		})
	}
}

func hasInterpreter(t *testing.T, path string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
