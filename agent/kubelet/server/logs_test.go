package server

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestParseLogOptions(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		query    string
		want     logOptions
		previous bool
		wantErr  string
	}{
		{query: "", want: logOptions{tailLines: -1}},
		{query: "follow=true&timestamps=1&tailLines=5&limitBytes=10", want: logOptions{tailLines: 5, limitBytes: 10, follow: true, timestamps: true}},
		{query: "previous=true", want: logOptions{tailLines: -1}, previous: true},
		{query: "sinceSeconds=60", want: logOptions{tailLines: -1, since: now.Add(-time.Minute)}},
		{query: "sinceTime=2024-05-01T11:00:00Z", want: logOptions{tailLines: -1, since: now.Add(-time.Hour)}},
		{query: "tailLines=-1", wantErr: "must be greater than or equal to 0"},
		{query: "limitBytes=0", wantErr: "must be greater than 0"},
		{query: "sinceSeconds=0", wantErr: "must be greater than 0"},
		{query: "sinceSeconds=5&sinceTime=2024-05-01T11:00:00Z", wantErr: "at most one of"},
		{query: "follow=maybe", wantErr: "must be true or false"},
		{query: "tailLines=x", wantErr: "must be an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, prev, err := parseLogOptions(q, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || prev != tt.previous {
				t.Errorf("got %+v previous=%v, want %+v previous=%v", got, prev, tt.want, tt.previous)
			}
		})
	}
}

func TestChooseLogRestart(t *testing.T) {
	running := &corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	backOff := &corev1.ContainerStatus{
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}},
	}
	creating := &corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	pulling := &corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}
	tests := []struct {
		name     string
		restarts []int
		status   *corev1.ContainerStatus
		previous bool
		want     int
		wantErr  string
	}{
		{name: "current is the newest", restarts: []int{0, 1, 2}, status: running, want: 2},
		{name: "previous is the one before", restarts: []int{0, 1, 2}, status: running, previous: true, want: 1},
		{name: "no previous", restarts: []int{0}, status: running, previous: true, wantErr: `previous terminated container "c" in pod "p" not found`},
		{name: "back-off shows the last run", restarts: []int{0, 1}, status: backOff, want: 1},
		{name: "back-off previous is the last run", restarts: []int{0, 1}, status: backOff, previous: true, want: 1},
		{name: "no status, files only", restarts: []int{3, 4}, want: 4},
		{name: "waiting", status: creating, wantErr: `container "c" in pod "p" is waiting to start: ContainerCreating`},
		{name: "image pull", status: pulling, wantErr: `container "c" in pod "p" is waiting to start: trying and failing to pull image`},
		{name: "nothing known", wantErr: `container "c" in pod "p" is not available`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseLogRestart(tt.restarts, tt.status, "p", "c", tt.previous)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// syncBuffer is an output a follower writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// TestReadLogFollow follows a growing log through a rotation (the file
// renamed away and a new one opened in its place) and stops once the
// container is reported gone, after reading its last lines.
func TestReadLogFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	appendFile(t, path, criLog(logBase, "stdout F before"))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var alive atomic.Bool
	alive.Store(true)
	out := &syncBuffer{}
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		done <- readLog(ctx, f, path, logOptions{tailLines: -1}, true, func(context.Context) bool { return alive.Load() }, out)
	}()
	waitFor(t, "the existing line", func() bool { return out.String() == "before\n" })

	appendFile(t, path, criLog(logBase.Add(time.Minute), "stdout P gr", "stdout F own"))
	waitFor(t, "the appended line", func() bool { return out.String() == "before\ngrown\n" })

	if err := os.Rename(path, path+".20240501-100100"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".20240501-100100", criLog(logBase.Add(2*time.Minute), "stdout F last in old"))
	appendFile(t, path, criLog(logBase.Add(3*time.Minute), "stderr F first in new"))
	waitFor(t, "both files' lines", func() bool {
		return out.String() == "before\ngrown\nlast in old\nfirst in new\n"
	})

	appendFile(t, path, criLog(logBase.Add(4*time.Minute), "stdout F goodbye"))
	alive.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
	if got := out.String(); !strings.HasSuffix(got, "goodbye\n") {
		t.Errorf("the last line was lost: %q", got)
	}
}

func TestReadLogFollowEndsWithClient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	appendFile(t, path, criLog(logBase, "stdout F x"))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- readLog(ctx, f, path, logOptions{tailLines: -1}, true, func(context.Context) bool { return true }, &syncBuffer{})
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end when the client went away")
	}
}
