package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func sumLine(name, content string) string {
	h := sha256.Sum256([]byte(content))
	return hex.EncodeToString(h[:]) + "  " + name + "\n"
}

func bundleFS(programs map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{"README.md": {Data: []byte("not a program")}}
	var sums strings.Builder
	for name, content := range programs {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
		sums.WriteString(sumLine(name, content))
	}
	fsys[sumsFile] = &fstest.MapFile{Data: []byte(sums.String())}
	return fsys
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	v1 := bundleFS(map[string]string{"containerd": "containerd v1", "shim": "shim v1"})
	if err := install(v1, dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"containerd": "containerd v1", "shim": "shim v1"} {
		if got := readFile(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
		if fi, _ := os.Stat(filepath.Join(dir, name)); fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v, want 0755", name, fi.Mode())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
		t.Error("installed a file the sums do not list")
	}

	// Same bundle: nothing is rewritten (a local change survives).
	if err := os.WriteFile(filepath.Join(dir, "shim"), []byte("edited"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := install(v1, dir); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "shim")); got != "edited" {
		t.Errorf("same bundle rewrote shim: %q", got)
	}

	// A program gone: reinstalled.
	if err := os.Remove(filepath.Join(dir, "containerd")); err != nil {
		t.Fatal(err)
	}
	if err := install(v1, dir); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "containerd")); got != "containerd v1" {
		t.Errorf("containerd after removal = %q", got)
	}

	// A new bundle replaces every program.
	v2 := bundleFS(map[string]string{"containerd": "containerd v2", "shim": "shim v2"})
	if err := install(v2, dir); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "shim")); got != "shim v2" {
		t.Errorf("shim after upgrade = %q", got)
	}
}

func TestInstallRefusesBadBundles(t *testing.T) {
	dir := t.TempDir()
	if err := install(fstest.MapFS{"README.md": {Data: []byte("x")}}, dir); !errors.Is(err, ErrNotBundled) {
		t.Errorf("no sums: %v, want ErrNotBundled", err)
	}

	corrupt := bundleFS(map[string]string{"containerd": "containerd v1"})
	corrupt["containerd"] = &fstest.MapFile{Data: []byte("something else")}
	err := install(corrupt, dir)
	if err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("mismatched content: %v, want a checksum error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed install left %v", entries)
	}

	for _, sums := range []string{"", "abc  containerd\n", sumLine("../containerd", "x")} {
		bad := fstest.MapFS{sumsFile: {Data: []byte(sums)}}
		if err := install(bad, dir); err == nil || errors.Is(err, ErrNotBundled) {
			t.Errorf("sums %q: %v, want a malformed-sums error", sums, err)
		}
	}
}
