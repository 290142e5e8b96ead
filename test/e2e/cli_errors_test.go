package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServerCLIErrors runs `kite server` with bad input: each must exit
// non-zero at once with exactly one line on stderr naming the problem.
func TestServerCLIErrors(t *testing.T) {
	t.Parallel()

	// A port someone else holds.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Not defer: the parallel subtests run after this function returns.
	t.Cleanup(func() { busy.Close() })
	busyPort := busy.Addr().(*net.TCPAddr).Port

	// A data dir under a regular file: not creatable, even by root.
	base := t.TempDir()
	regular := filepath.Join(base, "file")
	if err := os.WriteFile(regular, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(base, "config.yaml")
	if err := os.WriteFile(badConfig, []byte("https-listen-port: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		want []string // substrings of the one stderr line
	}{
		{"https port in use", []string{"--https-listen-port", strconv.Itoa(busyPort)},
			[]string{"port " + strconv.Itoa(busyPort) + " is already in use", "--https-listen-port"}},
		{"unwritable data dir", []string{"--data-dir", filepath.Join(regular, "data")},
			[]string{"data dir", filepath.Join(regular, "data"), "not a directory"}},
		{"malformed config file", []string{"--config", badConfig},
			[]string{badConfig}},
		{"invalid cluster CIDR", []string{"--cluster-cidr", "10.42.0.0/33"},
			[]string{"--cluster-cidr", "10.42.0.0/33"}},
		{"overlapping CIDRs", []string{"--cluster-cidr", "10.42.0.0/16", "--service-cidr", "10.42.128.0/17"},
			[]string{"10.42.0.0/16", "10.42.128.0/17", "overlap"}},
		{"invalid service CIDR", []string{"--service-cidr", "not-a-cidr"},
			[]string{"--service-cidr", "not-a-cidr"}},
		{"unknown flag", []string{"--no-such-flag"},
			[]string{"--no-such-flag"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ports := freePorts(t, 3)
			args := []string{kiteBin, "server", "--disable-agent",
				"--data-dir", filepath.Join(dir, "data"),
				"--write-kubeconfig", filepath.Join(dir, "kite.yaml"),
				"--bind-address", "127.0.0.1",
				"--https-listen-port", strconv.Itoa(ports[0]),
				"--etcd-client-port", strconv.Itoa(ports[1]),
				"--etcd-peer-port", strconv.Itoa(ports[2]),
				"--config", emptyConfig(t, dir),
			}
			// Later flags win, so the case's own values replace the defaults.
			args = append(args, tc.args...)
			if tc.name == "unknown flag" {
				// Usage errors print the usage text first; the last
				// line is the error.
				r := runCmd(t, 30*time.Second, nil, "", args...)
				if r.code == 0 {
					t.Fatalf("want a non-zero exit, got %s", r)
				}
				ls := lines(r.stderr)
				if len(ls) == 0 || !strings.HasPrefix(ls[len(ls)-1], "kite: ") {
					t.Fatalf("want the error as the last stderr line, got %s", r)
				}
				wantContains(t, "last stderr line", ls[len(ls)-1], tc.want...)
				return
			}
			start := time.Now()
			r := runCmd(t, 30*time.Second, nil, "", args...)
			if r.code == 0 {
				t.Fatalf("want a non-zero exit, got %s", r)
			}
			stderr := strings.TrimRight(r.stderr, "\n")
			if stderr == "" || strings.Contains(stderr, "\n") {
				t.Errorf("want exactly one line on stderr, got %s", r)
			}
			if !strings.HasPrefix(stderr, "kite: ") {
				t.Errorf("stderr line %q does not start with \"kite: \"", stderr)
			}
			wantContains(t, "stderr", stderr, tc.want...)
			if strings.TrimSpace(r.stdout) != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s to refuse bad input", d)
			}
			// Nothing was started: no etcd data left behind.
			if _, err := os.Stat(filepath.Join(dir, "data", "server", "db")); err == nil {
				t.Errorf("a refused start left etcd data in %s", dir)
			}
			t.Logf("stderr: %s", stderr)
		})
	}
}

// TestServerLoopbackNodeIP: a loopback --node-ip (also the documented
// fallback on a host with no other IPv4 address) must either work or be
// refused up front with one line naming --node-ip, not fail after etcd has
// started.
func TestServerLoopbackNodeIP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newServer(t, dir, serverOptions{extraArgs: []string{"--node-ip", "127.0.0.1"}})
	t.Cleanup(s.kill)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	err := s.waitReady(60 * time.Second)
	if err == nil {
		return // a loopback node IP works: fine too
	}
	code, werr := s.waitExit(10 * time.Second)
	if werr != nil || code == 0 {
		t.Fatalf("not ready (%v) and did not exit cleanly: code %d, %v", err, code, werr)
	}
	log, _ := os.ReadFile(s.logPath)
	ls := lines(string(log))[1:] // the first line is the e2e banner
	if len(ls) != 1 || !strings.HasPrefix(ls[0], "kite: ") || !strings.Contains(ls[0], "--node-ip") {
		t.Errorf("want one line naming --node-ip, got:\n%s", strings.Join(ls, "\n"))
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "server", "db")); err == nil {
		t.Errorf("a refused start left etcd data in %s", s.dataDir)
	}
}
