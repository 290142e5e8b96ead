package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestDecodeCRILog(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"full lines", "2026-01-01T00:00:00.1Z stdout F hello\n2026-01-01T00:00:00.2Z stderr F world\n", "hello\nworld\n"},
		{"partial joined", "t stdout P hel\nt stdout F lo\n", "hello\n"},
		{"empty line", "t stdout F \n", "\n"},
		{"cut first record skipped", "garbage\nt stdout F ok\n", "ok\n"},
		{"message with spaces", "t stdout F a b  c\n", "a b  c\n"},
	}
	for _, tt := range tests {
		if got := string(decodeCRILog([]byte(tt.in))); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb\n"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := string(lastLines([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	k := &Kubelet{cfg: Config{DataDir: dir}}
	pod := testPod(v1.RestartPolicyNever, nil, "app")
	spec := &pod.Spec.Containers[0]

	var log strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&log, "2026-01-01T00:00:00Z stderr F line %d\n", i)
	}
	logPath := filepath.Join(dir, "0.log")
	if err := os.WriteFile(logPath, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := exited("a1", "app", "sb1", 0, 1)
	rc.LogPath = logPath

	if got := k.terminationMessage(pod, spec, rc); got != "" {
		t.Errorf("ReadFile policy without a file = %q, want empty", got)
	}
	spec.TerminationMessagePolicy = v1.TerminationMessageFallbackToLogsOnError
	got := k.terminationMessage(pod, spec, rc)
	if !strings.HasPrefix(got, "line 20\n") || !strings.HasSuffix(got, "line 99\n") || strings.Count(got, "\n") != 80 {
		t.Errorf("fallback = %q, want the last 80 lines", got)
	}
	rc.ExitCode = 0
	if got := k.terminationMessage(pod, spec, rc); got != "" {
		t.Errorf("fallback on success = %q, want empty", got)
	}

	file := k.terminationMessageFile(pod.UID, "app", 0)
	if err := createTerminationMessageFile(file); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("termination file mode = %v, %v; want 0666", st.Mode(), err)
	}
	if err := os.WriteFile(file, []byte(strings.Repeat("x", 5000)), 0o666); err != nil {
		t.Fatal(err)
	}
	if got := k.terminationMessage(pod, spec, rc); len(got) != maxTerminationMessageBytes {
		t.Errorf("message length = %d, want it capped at %d", len(got), maxTerminationMessageBytes)
	}
}
