package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kite/agent/runtime/bundle"
)

// maxLogSize is the size past which containerd.log is moved aside to
// containerd.log.1; logCheckInterval is how often that is looked at while
// containerd runs.
const (
	maxLogSize       = 50 << 20
	logCheckInterval = time.Minute
)

// defaultPath is used when kite itself runs with no PATH (some init
// systems); runc and iptables live in these directories.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// child is one run of the containerd process.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed once the process has been waited for
	err     error         // its exit status; read after exited is closed
}

// launchContainerd starts `<data-dir>/bin/containerd --config ...` with its output
// appended to containerd.log.
func launchContainerd(cfg Config, p paths) (*child, error) {
	rotateLog(p.log)
	logFile, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening containerd log: %w", err)
	}
	cmd := exec.Command(filepath.Join(p.binDir, bundle.Containerd), "--config", p.config)
	cmd.Env = containerdEnv(os.Environ(), p.binDir)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so a Ctrl-C meant for kite does not reach
		// it before kite has stopped what depends on it.
		Setpgid: true,
		// A containerd outliving kite would hold the database lock and the
		// socket of the next run. Containers survive either way: their
		// shims are separate processes.
		Pdeathsig: syscall.SIGKILL,
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	startErr := make(chan error, 1)
	go func() {
		// The kernel sends Pdeathsig when the forking thread ends, not the
		// process, and Go ends threads that a goroutine exits while locked
		// to. So the fork happens on a thread held by this goroutine until
		// the child is gone.
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		c.started = time.Now()
		startErr <- nil
		c.err = cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	if err := <-startErr; err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	writePIDFile(p, cmd.Process.Pid)
	return c, nil
}

// containerdEnv is kite's environment with <data-dir>/bin first on PATH, so
// containerd finds kite's shim, and without what must not reach it:
// containerd would answer systemd's NOTIFY_SOCKET in kite's place.
func containerdEnv(environ []string, binDir string) []string {
	path := defaultPath
	env := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		name, value, _ := strings.Cut(kv, "=")
		if name == "PATH" && value != "" {
			path = value
		}
		return name == "PATH" || name == "NOTIFY_SOCKET"
	})
	return append(env, "PATH="+binDir+string(filepath.ListSeparator)+path)
}

// stop asks containerd to exit and kills it if it has not within grace.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// rotateLog keeps containerd.log under maxLogSize: past it, the content
// moves to containerd.log.1 and the file starts again from empty. It copies
// and truncates rather than renames because a running containerd keeps
// writing to the file it has open (with O_APPEND, so at the new end).
func rotateLog(path string) {
	info, err := os.Stat(path)
	if err != nil || info.Size() <= maxLogSize {
		return
	}
	src, err := os.Open(path)
	if err != nil {
		return
	}
	defer src.Close()
	dst, err := os.OpenFile(path+".1", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	_, copyErr := io.Copy(dst, src)
	if err := dst.Close(); err != nil || copyErr != nil {
		return
	}
	_ = os.Truncate(path, 0)
}

// logTail is the last lines of containerd's log, folded into one line for
// an error message.
func logTail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 8 << 10
	if info, err := f.Stat(); err == nil && info.Size() > window {
		_, _ = f.Seek(info.Size()-window, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	all := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, " | ")
}

// pidFile holds the PID of the containerd kite started, so a later kite
// can stop one left behind by a previous run that was killed abruptly.
func pidFile(p paths) string { return filepath.Join(p.dir, "containerd.pid") }

func writePIDFile(p paths, pid int) {
	_ = os.WriteFile(pidFile(p), []byte(strconv.Itoa(pid)+"\n"), 0o600)
}

// stopLeftover stops a containerd that a previous kite run started for this
// data directory and that is still running; it would hold the metadata
// database lock and make the new one hang. It is recognised by PID and by
// its command line naming this data directory's config file.
func stopLeftover(p paths, grace time.Duration) (bool, error) {
	data, err := os.ReadFile(pidFile(p))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", pidFile(p), err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return false, nil
	}
	if !isOurContainerd(pid, p.config) {
		return false, nil
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return false, nil
	}
	_ = proc.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !isOurContainerd(pid, p.config) {
			return true, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = proc.Signal(syscall.SIGKILL)
	for range 100 {
		if !isOurContainerd(pid, p.config) {
			return true, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true, fmt.Errorf("containerd left by a previous run (pid %d) does not exit", pid)
}

// isOurContainerd reports whether pid is alive and runs containerd with
// configPath. A zombie has an empty command line and counts as gone.
func isOurContainerd(pid int, configPath string) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	return slices.ContainsFunc(args, func(a []byte) bool { return string(a) == configPath }) &&
		slices.ContainsFunc(args, func(a []byte) bool { return filepath.Base(string(a)) == bundle.Containerd })
}
