// Package e2e runs real `kite server` processes and drives them with real
// kubectl binaries: the bundled `kite kubectl` and, where installed,
// independent upstream releases.
//
// The binary under test comes from $KITE_BIN (the Makefile sets it); when
// that is unset, TestMain builds one into a temp dir with the Makefile's
// version flags.
package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// kiteVersion is what the server and the bundled kubectl report; the
// Makefile stamps it in with -ldflags.
const kiteVersion = "v1.37.2+kite"

var (
	// kiteBin is the absolute path of the kite binary under test.
	kiteBin string
	// sharedDir holds state shared by the whole run (the shared server).
	sharedDir string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kite-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sharedDir = dir

	kiteBin = os.Getenv("KITE_BIN")
	if kiteBin == "" {
		bin, err := buildKite(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building kite:", err)
			return 1
		}
		kiteBin = bin
	} else if kiteBin, err = filepath.Abs(kiteBin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if _, err := os.Stat(kiteBin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: KITE_BIN:", err)
		return 1
	}

	code := m.Run()
	stopShared()
	return code
}

// buildKite builds ./cmd/kite from the repository root with the same
// version stamps as `make build`, so version assertions hold either way.
func buildKite(dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("repository root not found at %s: %w", root, err)
	}
	var ldflags []string
	ldflags = append(ldflags, "-X main.version="+kiteVersion, "-X kite/server.Version="+kiteVersion)
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ldflags = append(ldflags,
			"-X "+pkg+".gitVersion="+kiteVersion,
			"-X "+pkg+".gitMajor=1",
			"-X "+pkg+".gitMinor=37",
			"-X "+pkg+".gitTreeState=clean")
	}
	bin := filepath.Join(dir, "kite")
	cmd := exec.Command("go", "build", "-ldflags", strings.Join(ldflags, " "), "-o", bin, "./cmd/kite")
	cmd.Dir = root
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	fmt.Fprintln(os.Stderr, "e2e: KITE_BIN not set; building", bin)
	if err := cmd.Run(); err != nil {
		return "", err
	}
	return bin, nil
}

// freePorts returns n distinct TCP ports that were free on all addresses
// a moment ago. All listeners are held until every port is chosen so the
// kernel cannot hand the same port out twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for len(ports) < n {
		ln, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// kiteServer is one `kite server` process and the files around it.
type kiteServer struct {
	dir        string // holds data/, kite.yaml and server.log
	dataDir    string
	kubeconfig string
	logPath    string
	port       int
	etcdPort   int
	peerPort   int
	config     string
	extraArgs  []string
	args       []string
	// netns, when set, is the network namespace the process runs in, and
	// host the address the server is reached at (127.0.0.1 otherwise).
	netns string
	host  string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// serverOptions tune a test server.
type serverOptions struct {
	extraArgs []string
}

// startServer starts a server in a fresh temp dir and waits until it is
// ready; it is killed when the test ends and its log printed if it failed.
func startServer(t *testing.T, opts serverOptions) *kiteServer {
	t.Helper()
	s := newServer(t, t.TempDir(), opts)
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			s.dumpLog(t, 0)
		}
	})
	if err := s.launch(t); err != nil {
		t.Fatal(err)
	}
	return s
}

// launch starts a new server and waits until it is ready. A free port can
// be taken (by any client's outgoing connection) between choosing it and
// the server binding it; then the start is retried on other ports.
func (s *kiteServer) launch(t testing.TB) error {
	for attempt := 1; ; attempt++ {
		offset := s.logSize()
		if err := s.start(); err != nil {
			return err
		}
		err := s.waitReady(90 * time.Second)
		if err == nil || attempt == 3 {
			return err
		}
		log, _ := os.ReadFile(s.logPath)
		if int64(len(log)) < offset || !strings.Contains(string(log[offset:]), "already in use") {
			return err
		}
		t.Logf("kite server lost a race for a port (%v); retrying on other ports", err)
		s.choosePorts(t)
	}
}

func newServer(t testing.TB, dir string, opts serverOptions) *kiteServer {
	s := &kiteServer{
		dir:        dir,
		dataDir:    filepath.Join(dir, "data"),
		kubeconfig: filepath.Join(dir, "kite.yaml"),
		logPath:    filepath.Join(dir, "server.log"),
		config:     emptyConfig(t, dir),
		extraArgs:  opts.extraArgs,
	}
	s.choosePorts(t)
	return s
}

// choosePorts picks free ports and builds the command line from them.
func (s *kiteServer) choosePorts(t testing.TB) {
	ports := freePorts(t, 3)
	s.port, s.etcdPort, s.peerPort = ports[0], ports[1], ports[2]
	s.args = append([]string{
		"server",
		"--disable-agent",
		"--data-dir", s.dataDir,
		"--write-kubeconfig", s.kubeconfig,
		"--bind-address", "127.0.0.1",
		"--https-listen-port", strconv.Itoa(s.port),
		"--etcd-client-port", strconv.Itoa(s.etcdPort),
		"--etcd-peer-port", strconv.Itoa(s.peerPort),
		// An empty config file: a stray /etc/kite/config.yaml must not leak in.
		"--config", s.config,
	}, s.extraArgs...)
}

// emptyConfig writes a config file that sets nothing.
func emptyConfig(t testing.TB, dir string) string {
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte("# e2e: no settings here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// start launches the process; the log file is appended to, so a restart
// keeps the earlier run's lines.
func (s *kiteServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "=== e2e: starting %s %s\n", kiteBin, strings.Join(s.args, " "))
	argv := append([]string{kiteBin}, s.args...)
	if s.netns != "" {
		// nsenter switches only the network namespace: `ip netns exec`
		// would also mount a fresh /sys, hiding the cgroup mounts that
		// runc needs.
		argv = append([]string{"nsenter", "--net=/run/netns/" + s.netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = cleanEnv()
	// Own process group, so a hung child never outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting kite server: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		logFile.Close()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	return nil
}

// cleanEnv is the environment for child processes without KITE_* and
// KUBECONFIG settings of whoever runs the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KITE_") || strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "ETCDCTL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (s *kiteServer) url() string {
	host := s.host
	if host == "" {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(s.port))
}

// insecureClient talks TLS without verifying the serving certificate and
// without client credentials: an anonymous caller.
func insecureClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test client
			DisableKeepAlives: true,
		},
	}
}

// waitReady polls /readyz until it answers 200, the process exits, or the
// deadline passes.
func (s *kiteServer) waitReady(timeout time.Duration) error {
	client := insecureClient()
	deadline := time.Now().Add(timeout)
	exited := s.exitedChan()
	for {
		select {
		case <-exited:
			return fmt.Errorf("kite server exited before becoming ready: %v", s.exitErr())
		default:
		}
		resp, err := client.Get(s.url() + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if _, err := os.Stat(s.kubeconfig); err != nil {
					return fmt.Errorf("server ready but kubeconfig missing: %w", err)
				}
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kite server not ready after %s (last error: %v)", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *kiteServer) exitedChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited
}

func (s *kiteServer) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitErr
}

// signal sends sig to the server process.
func (s *kiteServer) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("server not started")
	}
	return s.cmd.Process.Signal(sig)
}

// waitExit waits for the process to exit and returns its exit code.
func (s *kiteServer) waitExit(timeout time.Duration) (int, error) {
	select {
	case <-s.exitedChan():
	case <-time.After(timeout):
		return -1, fmt.Errorf("kite server still running %s after the signal", timeout)
	}
	err := s.exitErr()
	if err == nil {
		return 0, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, fmt.Errorf("kite server killed by %v", ws.Signal())
		}
		return exitErr.ExitCode(), nil
	}
	return -1, err
}

// kill SIGKILLs the whole process group (if still running) and reaps it.
func (s *kiteServer) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
	}
}

// logSize is the current length of the log, for dumpLog's offset.
func (s *kiteServer) logSize() int64 {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// dumpLog prints the server log from offset on, capped at the last 64 KiB.
func (s *kiteServer) dumpLog(t testing.TB, offset int64) {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Logf("server log %s: %v", s.logPath, err)
		return
	}
	if offset > int64(len(data)) {
		offset = 0
	}
	data = data[offset:]
	const max = 64 << 10
	if len(data) > max {
		data = append([]byte("...(earlier lines cut)...\n"), data[len(data)-max:]...)
	}
	t.Logf("kite server log (%s):\n%s", s.logPath, data)
}

// The shared server serves every test that only needs a cluster to talk to.
var (
	sharedOnce   sync.Once
	sharedServer *kiteServer
	sharedErr    error
)

// shared returns the run-wide server, starting it on first use. The part
// of its log written during the calling test is printed if the test fails.
func shared(t *testing.T) *kiteServer {
	t.Helper()
	sharedOnce.Do(func() {
		// Stays the error if a t.Fatal inside ends this function early.
		sharedErr = errors.New("failed to start in an earlier test")
		dir := filepath.Join(sharedDir, "shared")
		if sharedErr = os.MkdirAll(dir, 0o755); sharedErr != nil {
			return
		}
		sharedServer = newServer(t, dir, serverOptions{})
		sharedErr = sharedServer.launch(t)
	})
	if sharedServer != nil {
		offset := sharedServer.logSize()
		if sharedErr != nil {
			offset = 0
		}
		t.Cleanup(func() {
			if t.Failed() {
				sharedServer.dumpLog(t, offset)
			}
		})
	}
	if sharedErr != nil {
		t.Fatalf("shared kite server: %v", sharedErr)
	}
	return sharedServer
}

func stopShared() {
	if sharedServer == nil {
		return
	}
	if err := sharedServer.signal(syscall.SIGTERM); err == nil {
		if _, err := sharedServer.waitExit(15 * time.Second); err == nil {
			return
		}
	}
	sharedServer.kill()
}

// result is what a finished command left behind.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCmd runs argv with a deadline and returns its output and exit code;
// a command that cannot start or times out fails the test.
func runCmd(t testing.TB, timeout time.Duration, env []string, stdin string, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s: timed out after %s\n%s", strings.Join(argv, " "), timeout, r)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return r
}
