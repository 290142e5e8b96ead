//go:build linux

package pause

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pauseProcess is a running pause program; done closes once it has exited
// and err holds what Wait returned.
type pauseProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startPause writes this machine's pause program to a temp dir and starts
// it; the process is killed at cleanup if the test left it running.
func startPause(t *testing.T, attr *syscall.SysProcAttr) *pauseProcess {
	t.Helper()
	program, err := Program(runtime.GOARCH)
	if err != nil {
		t.Skipf("no pause program for this machine: %v", err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, program, 0o755); err != nil {
		t.Fatalf("write program: %v", err)
	}
	p := &pauseProcess{cmd: exec.Command(path), done: make(chan struct{})}
	p.cmd.SysProcAttr = attr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start pause: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // fails harmlessly if it already exited
		<-p.done
	})
	return p
}

func (p *pauseProcess) expectRunning(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("pause exited early: %v", p.err)
	case <-time.After(d):
	}
}

func (p *pauseProcess) stopAndExpectExitZero(t *testing.T, stop syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(stop); err != nil {
		t.Fatalf("send %v: %v", stop, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("pause exited with %v after %v, want status 0", p.err, stop)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("pause still running 5s after %v", stop)
	}
}

func TestPauseRunsUntilStopSignal(t *testing.T) {
	tests := []struct {
		name string
		stop syscall.Signal
	}{
		{name: "SIGTERM", stop: syscall.SIGTERM},
		{name: "SIGINT", stop: syscall.SIGINT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPause(t, nil)
			p.expectRunning(t, 200*time.Millisecond)

			// SIGCHLD without children must not stop it.
			if err := p.cmd.Process.Signal(syscall.SIGCHLD); err != nil {
				t.Fatalf("send SIGCHLD: %v", err)
			}
			p.expectRunning(t, 200*time.Millisecond)

			p.stopAndExpectExitZero(t, tt.stop)
		})
	}
}

// As PID 1 of a new PID namespace, pause inherits orphans and must reap
// them, including several that exit together (their SIGCHLDs coalesce).
func TestPauseReapsOrphansAsNamespaceInit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a PID namespace")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("needs nsenter (util-linux) to start processes in the namespace")
	}
	p := startPause(t, &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	})
	pid := p.cmd.Process.Pid
	p.expectRunning(t, 100*time.Millisecond)

	// The shell backgrounds the sleeps and exits at once, so they are
	// reparented to the namespace's init: pause. They must not hold the
	// output pipe, or collecting the shell's output would wait for them.
	const orphans = 5
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	script := strings.Repeat("sleep 2 </dev/null >/dev/null 2>&1 & ", orphans) + "exit 0"
	if out, err := exec.CommandContext(ctx, nsenter, "--target", strconv.Itoa(pid), "--pid", "--", "/bin/sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("start orphans in the namespace: %v: %s", err, out)
	}
	if children := childrenOf(t, pid); len(children) != orphans {
		t.Fatalf("pause has %d children (%v) right after the shell exited, want the %d sleeps", len(children), children, orphans)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		children := childrenOf(t, pid)
		if len(children) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pause still has children 10s later (state by pid: %v); zombies mean it did not reap", children)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.expectRunning(t, 50*time.Millisecond)
	p.stopAndExpectExitZero(t, syscall.SIGTERM)
}

// childrenOf returns the state letter of every process whose parent is pid.
func childrenOf(t *testing.T, pid int) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list /proc: %v", err)
	}
	children := map[int]string{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // exited while we looked
		}
		if err != nil {
			t.Fatalf("read /proc/%d/stat: %v", child, err)
		}
		// Fields after the parenthesised command name: state ppid ...
		end := strings.LastIndexByte(string(stat), ')')
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) < 2 {
			t.Fatalf("malformed /proc/%d/stat: %q", child, stat)
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
			children[child] = fields[0]
		}
	}
	return children
}
