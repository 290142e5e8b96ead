package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// captureStderr runs f with os.Stderr redirected and returns what it wrote.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = old }()
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	f()
	w.Close()
	return <-done
}

func TestRunErrors(t *testing.T) {
	old := defaultConfigFile
	defaultConfigFile = filepath.Join(t.TempDir(), "config.yaml")
	t.Cleanup(func() { defaultConfigFile = old })

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantLast  string // last stderr line
		wantUsage bool
	}{
		{
			name:     "runtime error is one line, no usage",
			args:     []string{"kite", "server", "--cluster-cidr", "10.42.0.0/33"},
			wantCode: 1,
			wantLast: `kite: --cluster-cidr "10.42.0.0/33" is not a valid CIDR`,
		},
		{
			name:      "flag error shows usage",
			args:      []string{"kite", "server", "--no-such-flag"},
			wantCode:  1,
			wantLast:  "kite: unknown flag: --no-such-flag",
			wantUsage: true,
		},
		{
			name:     "unknown command",
			args:     []string{"kite", "servr"},
			wantCode: 1,
			wantLast: `kite: unknown command "servr" for "kite" Did you mean this? server`,
		},
		{
			name:     "version",
			args:     []string{"kite", "version"},
			wantCode: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var code int
			stderr := captureStderr(t, func() { code = run(tt.args) })
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if last := lines[len(lines)-1]; last != tt.wantLast {
				t.Errorf("last stderr line %q, want %q", last, tt.wantLast)
			}
			if gotUsage := strings.Contains(stderr, "Usage:"); gotUsage != tt.wantUsage {
				t.Errorf("usage shown = %v, want %v; stderr:\n%s", gotUsage, tt.wantUsage, stderr)
			}
		})
	}
}

func TestMulticallNames(t *testing.T) {
	for _, name := range []string{"kubectl", "etcdctl"} {
		if _, ok := multicall[name]; !ok {
			t.Errorf("kite must answer to the name %s", name)
		}
	}
}
