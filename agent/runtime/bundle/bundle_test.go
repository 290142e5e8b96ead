package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct{ name, content string }

func sumLine(name, content string) string {
	h := sha256.Sum256([]byte(content))
	return hex.EncodeToString(h[:]) + "  " + name + "\n"
}

// archive builds a bundle as `make build` does: the sums, then the
// programs.
func archive(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.content))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bundle(t *testing.T, programs ...entry) []byte {
	t.Helper()
	var sums strings.Builder
	for _, p := range programs {
		sums.WriteString(sumLine(p.name, p.content))
	}
	return archive(t, append([]entry{{sumsFile, sums.String()}}, programs...)...)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenArchive(t *testing.T) {
	dir := t.TempDir()
	arch := bundle(t, entry{"containerd", "containerd v1"})
	exe := func(name string, data ...[]byte) *os.File {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, bytes.Join(data, nil), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	program := []byte("\x7fELF the kite program")
	trailer := []byte(fmt.Sprintf("%s%019d\n", trailerMagic, len(arch)))
	if len(trailer) != trailerSize {
		t.Fatalf("trailer %q is %d bytes, want %d", trailer, len(trailer), trailerSize)
	}

	r, err := openArchive(exe("bundled", program, arch, trailer))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := install(r, bin); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(bin, "containerd")); got != "containerd v1" {
		t.Errorf("installed %q", got)
	}

	if _, err := openArchive(exe("plain", program)); !errors.Is(err, ErrNotBundled) {
		t.Errorf("no trailer: %v, want ErrNotBundled", err)
	}
	if _, err := openArchive(exe("tiny", []byte("x"))); !errors.Is(err, ErrNotBundled) {
		t.Errorf("a file shorter than a trailer: %v, want ErrNotBundled", err)
	}
	tooLong := []byte(fmt.Sprintf("%s%019d\n", trailerMagic, 1<<40))
	if _, err := openArchive(exe("bad", program, tooLong)); err == nil || errors.Is(err, ErrNotBundled) {
		t.Errorf("a trailer pointing before the file: %v, want a malformed-trailer error", err)
	}
}

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	v1 := bundle(t, entry{"containerd", "containerd v1"}, entry{"shim", "shim v1"})
	if err := install(bytes.NewReader(v1), dir); err != nil {
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

	// Same bundle: nothing is rewritten (a local change survives).
	if err := os.WriteFile(filepath.Join(dir, "shim"), []byte("edited"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := install(bytes.NewReader(v1), dir); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "shim")); got != "edited" {
		t.Errorf("same bundle rewrote shim: %q", got)
	}

	// A program gone: reinstalled.
	if err := os.Remove(filepath.Join(dir, "containerd")); err != nil {
		t.Fatal(err)
	}
	if err := install(bytes.NewReader(v1), dir); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "containerd")); got != "containerd v1" {
		t.Errorf("containerd after removal = %q", got)
	}

	// A new bundle replaces every program.
	v2 := bundle(t, entry{"containerd", "containerd v2"}, entry{"shim", "shim v2"})
	if err := install(bytes.NewReader(v2), dir); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "shim")); got != "shim v2" {
		t.Errorf("shim after upgrade = %q", got)
	}
}

func TestInstallRefusesBadBundles(t *testing.T) {
	good := sumLine("containerd", "containerd v1")
	for _, tt := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"no sums first", archive(t, entry{"containerd", "x"}, entry{sumsFile, good}), "starts with"},
		{"content differs from its sum", archive(t, entry{sumsFile, good}, entry{"containerd", "something else"}), "SHA-256"},
		{"program missing", archive(t, entry{sumsFile, good}), "missing"},
		{"program not listed", archive(t, entry{sumsFile, good}, entry{"other", "x"}), "does not list"},
		{"empty sums", archive(t, entry{sumsFile, ""}), "no programs"},
		{"short sum", archive(t, entry{sumsFile, "abc  containerd\n"}), "malformed"},
		{"path in a name", archive(t, entry{sumsFile, sumLine("../containerd", "x")}), "malformed"},
		{"parent as a name", archive(t, entry{sumsFile, sumLine("..", "x")}), "malformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := install(bytes.NewReader(tt.archive), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("install: %v, want an error with %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a failed install left %v", entries)
			}
		})
	}
}
