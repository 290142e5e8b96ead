package runtime

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kite/agent/runtime/bundle"
)

func TestContainerdEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{
			name:    "bin dir goes first on PATH",
			environ: []string{"HOME=/root", "PATH=/usr/sbin:/usr/bin"},
			want:    []string{"HOME=/root", "PATH=/var/lib/kite/bin:/usr/sbin:/usr/bin"},
		},
		{
			name:    "no PATH gets the standard one",
			environ: []string{"HOME=/root"},
			want:    []string{"HOME=/root", "PATH=/var/lib/kite/bin:" + defaultPath},
		},
		{
			name:    "systemd notification socket is dropped",
			environ: []string{"NOTIFY_SOCKET=/run/systemd/notify", "PATH=/bin", "LANG=C"},
			want:    []string{"LANG=C", "PATH=/var/lib/kite/bin:/bin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := containerdEnv(tt.environ, "/var/lib/kite/bin")
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "containerd.log")
	var lines []string
	for i := range 2000 {
		lines = append(lines, "line "+strings.Repeat("x", i%7)+" "+string(rune('a'+i%26)))
	}
	lines = append(lines, "second to last", "last")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := logTail(path, 2); got != "second to last | last" {
		t.Errorf("logTail = %q", got)
	}
	if got := logTail(filepath.Join(t.TempDir(), "none"), 2); got != "" {
		t.Errorf("logTail of a missing file = %q", got)
	}
}

func TestStopLeftover(t *testing.T) {
	tests := []struct {
		name        string
		script      string // run by sh with "containerd --config <config>" as its arguments
		matching    bool   // whether the command line names this data dir's config
		wantStopped bool
	}{
		{"leftover containerd that exits on SIGTERM", "trap 'exit 0' TERM; : > \"$READY\"; while :; do sleep 0.05; done", true, true},
		{"leftover containerd that ignores SIGTERM", "trap '' TERM; : > \"$READY\"; while :; do sleep 0.05; done", true, true},
		{"unrelated process with a recycled PID", ": > \"$READY\"; while :; do sleep 0.05; done", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPaths(t.TempDir())
			if err := os.MkdirAll(p.dir, 0o700); err != nil {
				t.Fatal(err)
			}
			config := p.config
			if !tt.matching {
				config = filepath.Join(t.TempDir(), "other.toml")
			}
			ready := filepath.Join(t.TempDir(), "ready")
			cmd := exec.Command("/bin/sh", "-c", tt.script, bundle.Containerd, "--config", config)
			cmd.Env = append(os.Environ(), "READY="+ready)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			// Signals must not arrive before the script has set its traps.
			waitFor(t, 10*time.Second, "the process to set its traps", func() bool {
				_, err := os.Stat(ready)
				return err == nil
			})
			writePIDFile(p, cmd.Process.Pid)

			began := time.Now()
			stopped, err := stopLeftover(p, 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if stopped != tt.wantStopped {
				t.Errorf("stopped = %v, want %v", stopped, tt.wantStopped)
			}
			t.Logf("stopLeftover took %s", time.Since(began).Round(time.Millisecond))
			select {
			case <-exited:
				if !tt.wantStopped {
					t.Error("an unrelated process was stopped")
				}
			case <-time.After(2 * time.Second):
				if tt.wantStopped {
					t.Error("the leftover process still runs")
				}
			}
		})
	}
}

func TestStopLeftoverWithoutPIDFile(t *testing.T) {
	stopped, err := stopLeftover(newPaths(t.TempDir()), time.Second)
	if stopped || err != nil {
		t.Errorf("stopLeftover with no PID file = %v, %v", stopped, err)
	}
}

func TestRotateLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "containerd.log")
	// A writer that keeps its O_APPEND descriptor, as containerd does.
	w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	small := []byte("small\n")
	if _, err := w.Write(small); err != nil {
		t.Fatal(err)
	}
	rotateLog(path)
	if data, _ := os.ReadFile(path); string(data) != "small\n" {
		t.Fatalf("a small log was rotated: %q", data)
	}

	if _, err := w.Write(bytes.Repeat([]byte("x"), maxLogSize)); err != nil {
		t.Fatal(err)
	}
	rotateLog(path)
	if info, err := os.Stat(path + ".1"); err != nil || info.Size() != maxLogSize+int64(len(small)) {
		t.Fatalf("rotated copy: %v, %v", info, err)
	}
	if _, err := w.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "after\n" {
		t.Errorf("after rotation the log holds %d bytes starting %q, want only the new line", len(data), data[:min(len(data), 20)])
	}
}
