package volume

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func versions(t *testing.T, dir string) []string {
	var out []string
	for _, n := range listDir(t, dir) {
		if strings.HasPrefix(n, "..") && n != dataDirName {
			out = append(out, n)
		}
	}
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	noOwn := ownership{gid: -1}
	files := map[string]projectedFile{
		"config.yaml":    {data: []byte("a: 1\n"), mode: 0o644, uid: -1},
		"certs/tls.crt":  {data: []byte("CERT"), mode: 0o600, uid: -1},
		"certs/deep/key": {data: []byte("KEY"), mode: 0o400, uid: -1},
	}
	changed, err := writeAtomic(dir, files, noOwn)
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	if got := readFile(t, filepath.Join(dir, "config.yaml")); got != "a: 1\n" {
		t.Errorf("config.yaml = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "certs", "deep", "key")); got != "KEY" {
		t.Errorf("certs/deep/key = %q", got)
	}
	for name, want := range map[string]string{"config.yaml": "..data/config.yaml", "certs": "..data/certs"} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("link %s -> %q (%v), want %q", name, got, err, want)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "certs", "tls.crt"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("tls.crt mode = %v (%v), want 0600", info.Mode().Perm(), err)
	}
	first := versions(t, dir)
	if len(first) != 1 {
		t.Fatalf("versions after first write = %v", first)
	}

	// Same content: nothing is written.
	changed, err = writeAtomic(dir, files, noOwn)
	if err != nil || changed {
		t.Fatalf("unchanged write: changed=%v err=%v", changed, err)
	}
	if got := versions(t, dir); len(got) != 1 || got[0] != first[0] {
		t.Errorf("versions after unchanged write = %v, want %v", got, first)
	}

	// A file held open through the old version keeps its content; the
	// visible path shows the new one.
	old, err := os.Open(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = old.Close() }()

	updated := map[string]projectedFile{
		"config.yaml": {data: []byte("a: 2\n"), mode: 0o644, uid: -1},
		"new.txt":     {data: []byte("new"), mode: 0o644, uid: -1},
	}
	changed, err = writeAtomic(dir, updated, noOwn)
	if err != nil || !changed {
		t.Fatalf("update: changed=%v err=%v", changed, err)
	}
	if got := readFile(t, filepath.Join(dir, "config.yaml")); got != "a: 2\n" {
		t.Errorf("config.yaml after update = %q", got)
	}
	buf := make([]byte, 16)
	n, _ := old.Read(buf)
	if string(buf[:n]) != "a: 1\n" {
		t.Errorf("open old file reads %q", buf[:n])
	}
	if _, err := os.Lstat(filepath.Join(dir, "certs")); !os.IsNotExist(err) {
		t.Errorf("stale link certs still there: %v", err)
	}
	want := []string{dataDirName, "config.yaml", "new.txt"}
	var got []string
	for _, n := range listDir(t, dir) {
		if !strings.HasPrefix(n, "..") || n == dataDirName {
			got = append(got, n)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("entries = %v, want %v", got, want)
	}
	if v := versions(t, dir); len(v) != 1 || v[0] == first[0] {
		t.Errorf("versions after update = %v (first was %v)", v, first)
	}

	// A mode change alone is a change.
	updated["new.txt"] = projectedFile{data: []byte("new"), mode: 0o600, uid: -1}
	if changed, err = writeAtomic(dir, updated, noOwn); err != nil || !changed {
		t.Errorf("mode change: changed=%v err=%v", changed, err)
	}
	// Emptying the volume.
	if _, err := writeAtomic(dir, map[string]projectedFile{}, noOwn); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 2 {
		t.Errorf("entries of emptied volume = %v, want ..data and one version", got)
	}
}

func TestWriteAtomicKeepsForeignEntries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := writeAtomic(dir, map[string]projectedFile{"key": {data: []byte("x"), mode: 0o644, uid: -1}}, ownership{gid: -1})
	if err == nil {
		t.Fatal("a regular file in the way of a link should be an error")
	}
	if got := readFile(t, filepath.Join(dir, "key")); got != "not ours" {
		t.Errorf("foreign file overwritten: %q", got)
	}
}

func TestValidatePayload(t *testing.T) {
	tests := []struct {
		path    string
		wantErr bool
	}{
		{"ok", false},
		{"a/b/c", false},
		{"", true},
		{"/abs", true},
		{"../escape", true},
		{"a/../../b", true},
		{"..data", true},
		{"..hidden", true},
		{"a//b", true},
		{"a/./b", true},
	}
	for _, tt := range tests {
		err := validatePayload(map[string]projectedFile{tt.path: {}})
		if (err != nil) != tt.wantErr {
			t.Errorf("path %q: err = %v, wantErr %v", tt.path, err, tt.wantErr)
		}
	}
	if err := validatePayload(map[string]projectedFile{"a": {}, "a/b": {}}); err == nil {
		t.Error("a file below another file should be rejected")
	}
}

func TestWriteAtomicGroupOwnership(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	files := map[string]projectedFile{
		"token":  {data: []byte("t"), mode: 0o600, uid: 1234},
		"ca.crt": {data: []byte("c"), mode: 0o644, uid: -1},
	}
	own := ownership{gid: 2000, readOnly: true}
	if _, err := writeAtomic(dir, files, own); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		mode     os.FileMode
		uid, gid int
	}{"token": {0o640, 1234, 2000}, "ca.crt": {0o644, 0, 2000}} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		uid, gid := fileOwner(info)
		if info.Mode().Perm() != want.mode || uid != want.uid || gid != want.gid {
			t.Errorf("%s: mode %v uid %d gid %d, want %v %d %d", name, info.Mode().Perm(), uid, gid, want.mode, want.uid, want.gid)
		}
	}
	// Group bits added for fsGroup do not count as a change.
	if changed, err := writeAtomic(dir, files, own); err != nil || changed {
		t.Errorf("rewrite with ownership: changed=%v err=%v", changed, err)
	}
}
