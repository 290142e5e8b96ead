package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// upstreamKubectl is where the independent kubectl releases are installed.
const upstreamKubectl = "/usr/lib/google-cloud-sdk/bin/kubectl."

// kubectl is one kubectl binary bound to one server's kubeconfig.
type kubectl struct {
	name       string   // short name for test names: "kite", "1.33"
	argv       []string // the command before kubectl's own arguments
	kubeconfig string
	cacheDir   string
}

// bundledKubectl is `kite kubectl`.
func bundledKubectl(t testing.TB, s *kiteServer) kubectl {
	return kubectl{name: "kite", argv: []string{kiteBin, "kubectl"}, kubeconfig: s.kubeconfig, cacheDir: filepath.Join(t.TempDir(), "cache")}
}

// upstream returns the installed kubectl of the given minor release, or
// false when it is not installed on this machine.
func upstream(t testing.TB, s *kiteServer, release string) (kubectl, bool) {
	bin := upstreamKubectl + release
	if _, err := os.Stat(bin); err != nil {
		return kubectl{}, false
	}
	return kubectl{name: release, argv: []string{bin}, kubeconfig: s.kubeconfig, cacheDir: filepath.Join(t.TempDir(), "cache")}, true
}

func (k kubectl) command(args ...string) []string {
	argv := slices.Clone(k.argv)
	argv = append(argv, "--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir)
	return append(argv, args...)
}

// runWith runs kubectl with extra environment variables and stdin.
func (k kubectl) runWith(t testing.TB, env []string, stdin string, args ...string) result {
	t.Helper()
	return runCmd(t, 60*time.Second, env, stdin, k.command(args...)...)
}

func (k kubectl) run(t testing.TB, args ...string) result {
	t.Helper()
	return k.runWith(t, nil, "", args...)
}

// ok runs kubectl, fails the test unless it exits 0, and returns stdout.
func (k kubectl) ok(t testing.TB, args ...string) string {
	t.Helper()
	r := k.run(t, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: want exit 0, got %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// okStdin is ok with stdin.
func (k kubectl) okStdin(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	r := k.runWith(t, nil, stdin, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: want exit 0, got %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// fails runs kubectl and fails the test unless it exits non-zero.
func (k kubectl) fails(t testing.TB, args ...string) result {
	t.Helper()
	r := k.run(t, args...)
	if r.code == 0 {
		t.Fatalf("kubectl %s: want a non-zero exit, got %s", strings.Join(args, " "), r)
	}
	return r
}

// jsonpath returns one field of one object.
func (k kubectl) jsonpath(t testing.TB, path string, args ...string) string {
	t.Helper()
	return k.ok(t, append(args, "-o", "jsonpath="+path)...)
}

// getJSON returns an object (or list) decoded from -o json.
func (k kubectl) getJSON(t testing.TB, args ...string) map[string]any {
	t.Helper()
	out := k.ok(t, append(args, "-o", "json")...)
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("kubectl %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return obj
}

// rawJSON GETs a path with `kubectl get --raw` and decodes the JSON.
func (k kubectl) rawJSON(t testing.TB, path string) map[string]any {
	t.Helper()
	out := k.ok(t, "get", "--raw", path)
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("kubectl get --raw %s: %v\n%s", path, err, out)
	}
	return obj
}

// notFound asserts the object is gone.
func (k kubectl) notFound(t testing.TB, args ...string) {
	t.Helper()
	r := k.fails(t, append([]string{"get"}, args...)...)
	if !strings.Contains(r.stderr, "NotFound") && !strings.Contains(r.stderr, "not found") {
		t.Fatalf("kubectl get %s: want NotFound, got %s", strings.Join(args, " "), r)
	}
}

// cellSep separates table cells: kubectl pads columns with at least three
// spaces, while headers such as "LAST SEEN" hold single spaces.
var cellSep = regexp.MustCompile(`\s{2,}`)

// table splits kubectl's human-readable output into rows of cells; the
// first row is the header.
func table(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		rows = append(rows, cellSep.Split(line, -1))
	}
	return rows
}

// checkTable asserts the header columns and that a row starting with the
// wanted cells exists ("*" matches any cell).
func checkTable(t testing.TB, what, out string, header []string, row []string) {
	t.Helper()
	rows := table(out)
	if len(rows) == 0 {
		t.Fatalf("%s: empty output", what)
	}
	if !slices.Equal(rows[0], header) {
		t.Errorf("%s: header\n got %q\nwant %q\noutput:\n%s", what, rows[0], header, out)
	}
	if row == nil {
		return
	}
	for _, r := range rows[1:] {
		if rowMatches(r, row) {
			return
		}
	}
	t.Errorf("%s: no row starting with %q in\n%s", what, row, out)
}

func rowMatches(got, want []string) bool {
	if len(got) < len(want) {
		return false
	}
	for i, w := range want {
		if w != "*" && got[i] != w {
			return false
		}
	}
	return true
}

// lines returns the non-empty lines of out.
func lines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// wantLines asserts that out holds each of want as a whole line.
func wantLines(t testing.TB, what, out string, want ...string) {
	t.Helper()
	got := lines(out)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: missing line %q in output:\n%s", what, w, out)
		}
	}
}

// wantExactLines asserts that out is exactly the set of lines in want.
func wantExactLines(t testing.TB, what, out string, want ...string) {
	t.Helper()
	got := lines(out)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func wantContains(t testing.TB, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: want %q in output:\n%s", what, w, out)
		}
	}
}

func wantEqual(t testing.TB, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// writeFile writes a manifest into the test's temp dir.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// expand replaces __NS__ and __SFX__ in a manifest template.
func expand(tmpl, ns, sfx string) string {
	return strings.NewReplacer("__NS__", ns, "__SFX__", sfx).Replace(tmpl)
}
