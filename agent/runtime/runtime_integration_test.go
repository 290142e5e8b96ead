package runtime

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/runtime/bundle"
	"kite/agent/runtime/runtimetest"
	"kite/test/images"
)

// dockerArchiveRef is the name the test's `docker save` style archive gives
// the busybox image, beside the OCI layout's images.BusyboxRef.
const dockerArchiveRef = "kite.test/busybox:docker-archive"

// TestEmbeddedContainerd starts the embedded containerd through the
// supervisor, imports images from both archive formats, runs a pod whose
// container writes to its log, pulls from loopback registries (directly,
// with registries.yaml credentials, and through a mirror), and checks that
// a killed containerd is restarted while the container keeps running.
func TestEmbeddedContainerd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containerd, runc and overlay mounts")
	}
	if err := CheckPrerequisites(true).Err(); err != nil {
		t.Skipf("host cannot run containers: %v", err)
	}
	dataDir := t.TempDir()
	t.Cleanup(func() { cleanupUnder(t, dataDir) })

	imagesDir := filepath.Join(dataDir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := images.Busybox(imagesDir); err != nil {
		t.Skipf("cannot build the busybox test image: %v", err)
	}
	writeDockerArchive(t, filepath.Join(imagesDir, "busybox-docker.tar"))

	// Registries: one open, one needing credentials that only
	// registries.yaml knows, also reachable as a mirror of a made-up name.
	img, err := images.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	open := images.StartRegistry(t, "", "")
	images.Push(t, open, "test/busybox:1.0", img, "", "")
	private := images.StartRegistry(t, "kite", "s3cret")
	images.Push(t, private, "test/busybox:1.0", img, "kite", "s3cret")
	registriesFile := filepath.Join(t.TempDir(), "registries.yaml")
	writeFile(t, registriesFile, fmt.Sprintf(`
mirrors:
  mirror.kite.test:
    endpoint: ["http://%s"]
configs:
  %q:
    auth: {username: kite, password: s3cret}
`, private, private))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// ctx is the runtime's lifetime; StartTimeout bounds the start.
	rt, err := Start(ctx, Config{
		DataDir:         dataDir,
		RegistriesFile:  registriesFile,
		InstallPrograms: runtimetest.InstallSelf,
		StartTimeout:    2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			select {
			case <-rt.Done():
			case <-time.After(time.Minute):
				t.Error("runtime did not stop within a minute")
			}
		}
	}
	defer stop()
	logMemory(t, "containerd at start", dataDir, rt.PID())

	rs, is := rt.RuntimeService(), rt.ImageService()
	if got := rt.Endpoint(); got != "unix://"+filepath.Join(dataDir, "agent", "containerd", "containerd.sock") {
		t.Errorf("Endpoint() = %q", got)
	}

	t.Run("imported images are listed", func(t *testing.T) {
		tags := listImageTags(ctx, t, is)
		for _, want := range []string{SandboxImage, images.BusyboxRef, dockerArchiveRef} {
			if !slices.Contains(tags, want) {
				t.Errorf("ListImages has %v, missing %s", tags, want)
			}
		}
		st, err := is.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: SandboxImage}, false)
		if err != nil || st.Image == nil || !st.Image.Pinned {
			t.Errorf("pause image status %+v, %v: want it present and pinned", st, err)
		}
	})

	podID, ctrID, sandboxCfg := runEchoPod(ctx, t, rs, filepath.Join(dataDir, "pod-logs"))
	podRemoved := false
	defer func() {
		if !podRemoved {
			removePod(t, rs, podID)
		}
	}()

	t.Run("container log", func(t *testing.T) {
		logPath := filepath.Join(dataDir, "pod-logs", "echo.log")
		waitFor(t, 30*time.Second, "container output in "+logPath, func() bool {
			data, _ := os.ReadFile(logPath)
			return criLogHas(data, "stdout", "hello-from-kite")
		})
	})

	for _, pull := range []struct {
		name, image string
	}{
		{"plain HTTP loopback registry", open + "/test/busybox:1.0"},
		{"credentials from registries.yaml", private + "/test/busybox:1.0"},
		{"mirror with credentials", "mirror.kite.test/test/busybox:1.0"},
	} {
		t.Run("pull from "+pull.name, func(t *testing.T) {
			pullCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			ref, err := is.PullImage(pullCtx, &runtimeapi.ImageSpec{Image: pull.image}, rt.RegistryAuth(pull.image), sandboxCfg)
			if err != nil {
				t.Fatalf("PullImage(%s): %v", pull.image, err)
			}
			if !strings.HasPrefix(ref, "sha256:") {
				t.Errorf("PullImage returned %q, want an image ID", ref)
			}
		})
	}

	t.Run("containerd restarts and the container survives", func(t *testing.T) {
		before, err := rs.ContainerStatus(ctx, ctrID, false)
		if err != nil {
			t.Fatal(err)
		}
		oldPID := rt.PID()
		if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
			t.Fatalf("killing containerd (pid %d): %v", oldPID, err)
		}
		waitFor(t, 90*time.Second, "containerd to be restarted", func() bool {
			pid := rt.PID()
			if pid == 0 || pid == oldPID {
				return false
			}
			callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := rs.Version(callCtx, "")
			return err == nil
		})
		after, err := rs.ContainerStatus(ctx, ctrID, false)
		if err != nil {
			t.Fatal(err)
		}
		if after.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING || after.Status.StartedAt != before.Status.StartedAt {
			t.Errorf("after the restart the container is %v started at %d, before %v at %d",
				after.Status.State, after.Status.StartedAt, before.Status.State, before.Status.StartedAt)
		}
		stdout, _, err := rs.ExecSync(ctx, ctrID, []string{"sh", "-c", "echo still-here"}, 30*time.Second)
		if err != nil || strings.TrimSpace(string(stdout)) != "still-here" {
			t.Errorf("exec after restart: %q, %v", stdout, err)
		}
		logMemory(t, "containerd after restart with one pod", dataDir, rt.PID())
	})

	removePod(t, rs, podID)
	podRemoved = true
	pid := rt.PID()
	stop()
	if pid != 0 && processAlive(pid) {
		t.Errorf("containerd (pid %d) still runs after the context ended", pid)
	}
	// With the pod removed its shim exits too: nothing of this test's
	// runtime is left running.
	waitFor(t, 15*time.Second, "the shims to exit", func() bool {
		return len(slices.DeleteFunc(processesMentioning(dataDir), func(pid int) bool { return !processAlive(pid) })) == 0
	})

	t.Run("second start skips unchanged tarballs; external endpoint", func(t *testing.T) {
		// Same size and time but unreadable content: importing it again
		// would fail and drop it from the record.
		archive := filepath.Join(imagesDir, "busybox-docker.tar")
		info, err := os.Stat(archive)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, archive, string(make([]byte, info.Size())))
		if err := os.Chtimes(archive, info.ModTime(), info.ModTime()); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rt, err := Start(ctx, Config{DataDir: dataDir, RegistriesFile: registriesFile, InstallPrograms: runtimetest.InstallSelf, StartTimeout: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			cancel()
			<-rt.Done()
		}()
		record := readImportRecord(newPaths(dataDir).imported, slog.Default())
		if got := record[archive].Images; !slices.Equal(got, []string{dockerArchiveRef}) {
			t.Errorf("record for the unchanged archive = %+v, want it kept with %s", record[archive], dockerArchiveRef)
		}
		if tags := listImageTags(ctx, t, rt.ImageService()); !slices.Contains(tags, dockerArchiveRef) {
			t.Errorf("ListImages after a restart has %v, missing %s", tags, dockerArchiveRef)
		}

		extCtx, extCancel := context.WithCancel(ctx)
		ext, err := Start(extCtx, Config{Endpoint: rt.Endpoint(), RegistriesFile: registriesFile})
		if err != nil {
			t.Fatal(err)
		}
		if ext.PID() != 0 {
			t.Errorf("external runtime reports containerd pid %d", ext.PID())
		}
		if _, err := ext.RuntimeService().Version(ctx, ""); err != nil {
			t.Errorf("Version through the external endpoint: %v", err)
		}
		if auth := ext.RegistryAuth(private + "/test/busybox:1.0"); auth == nil || auth.Username != "kite" || auth.Password != "s3cret" {
			t.Errorf("external runtime RegistryAuth = %+v, want registries.yaml's credentials", auth)
		}
		if auth := rt.RegistryAuth(private + "/test/busybox:1.0"); auth != nil {
			t.Errorf("embedded runtime RegistryAuth = %+v, want nil (containerd holds the credentials)", auth)
		}
		extCancel()
		select {
		case <-ext.Done():
		case <-time.After(10 * time.Second):
			t.Error("external runtime not done after its context ended")
		}
	})
}

// TestStartReportsContainerdFailure checks that a containerd that dies at
// start makes Start fail at once with the end of its log.
func TestStartReportsContainerdFailure(t *testing.T) {
	if err := CheckPrerequisites(true).Err(); err != nil {
		t.Skipf("host cannot run containers: %v", err)
	}
	dataDir := t.TempDir()
	failing := func(binDir string) error {
		if err := os.MkdirAll(binDir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(binDir, bundle.Containerd), []byte("#!/bin/sh\necho 'containerd: failed to load config: boom' >&2\nexit 3\n"), 0o755)
	}
	began := time.Now()
	_, err := Start(context.Background(), Config{DataDir: dataDir, InstallPrograms: failing, StartTimeout: time.Minute})
	if err == nil {
		t.Fatal("Start succeeded with a containerd that exits")
	}
	for _, want := range []string{"exited before serving CRI", "failed to load config: boom", filepath.Join(dataDir, "agent", "containerd", "containerd.log")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("Start took %s to notice containerd had exited", took)
	}
}

// runEchoPod runs a host-network pod (no CNI needed) with one busybox
// container that prints a line and sleeps.
func runEchoPod(ctx context.Context, t *testing.T, rs internalapi.RuntimeService, logDir string) (podID, ctrID string, sandboxCfg *runtimeapi.PodSandboxConfig) {
	t.Helper()
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	uid := fmt.Sprintf("kite-runtime-test-%d", time.Now().UnixNano())
	sandboxCfg = &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "echo", Namespace: "default", Uid: uid},
		// No Hostname: a host-network pod shares the node's UTS namespace,
		// and runc refuses to set one there (the kubelet leaves it empty too).
		LogDirectory: logDir,
		Labels: map[string]string{
			"io.kubernetes.pod.name":      "echo",
			"io.kubernetes.pod.namespace": "default",
			"io.kubernetes.pod.uid":       uid,
		},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			},
		},
	}
	podID, err := rs.RunPodSandbox(ctx, sandboxCfg, "")
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	ctrID, err = rs.CreateContainer(ctx, podID, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "echo"},
		Image:    &runtimeapi.ImageSpec{Image: images.BusyboxRef},
		Command:  []string{"/bin/sh", "-c", "echo hello-from-kite; exec sleep 3600"},
		LogPath:  "echo.log",
		Labels: map[string]string{
			"io.kubernetes.pod.name":       "echo",
			"io.kubernetes.pod.namespace":  "default",
			"io.kubernetes.pod.uid":        uid,
			"io.kubernetes.container.name": "echo",
		},
	}, sandboxCfg)
	if err != nil {
		removePod(t, rs, podID)
		t.Fatalf("CreateContainer: %v", err)
	}
	if err := rs.StartContainer(ctx, ctrID); err != nil {
		removePod(t, rs, podID)
		t.Fatalf("StartContainer: %v", err)
	}
	return podID, ctrID, sandboxCfg
}

// removePod stops and removes a sandbox with its containers; removing one
// already gone is fine.
func removePod(t *testing.T, rs internalapi.RuntimeService, podID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rs.StopPodSandbox(ctx, podID); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Errorf("StopPodSandbox: %v", err)
	}
	if err := rs.RemovePodSandbox(ctx, podID); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Errorf("RemovePodSandbox: %v", err)
	}
}

func listImageTags(ctx context.Context, t *testing.T, is internalapi.ImageManagerService) []string {
	t.Helper()
	list, err := is.ListImages(ctx, nil)
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	var tags []string
	for _, img := range list {
		tags = append(tags, img.RepoTags...)
	}
	return tags
}

// criLogHas reports whether a CRI-format log ("<time> <stream> <F|P> <text>")
// has a full line text on stream.
func criLogHas(data []byte, stream, text string) bool {
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		fields := strings.SplitN(scanner.Text(), " ", 4)
		if len(fields) == 4 && fields[1] == stream && fields[2] == "F" && fields[3] == text {
			if _, err := time.Parse(time.RFC3339Nano, fields[0]); err == nil {
				return true
			}
		}
	}
	return false
}

func writeDockerArchive(t *testing.T, path string) {
	t.Helper()
	img, err := images.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(dockerArchiveRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatalf("writing docker archive: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil && !isZombie(pid)
}

func isZombie(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	// stat: pid (comm) state ...; comm may hold spaces, so cut at the last ')'.
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || i+2 >= len(data) || data[i+2] == 'Z'
}

// logMemory logs the resident memory of containerd and of the other
// processes it started for dir (the shims).
func logMemory(t *testing.T, what, dir string, pid int) {
	t.Helper()
	t.Logf("%s: containerd pid %d RSS %s", what, pid, rss(pid))
	for _, other := range processesMentioning(dir) {
		if other != pid {
			t.Logf("  pid %d (shim) RSS %s", other, rss(other))
		}
	}
}

func rss(pid int) string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// processesMentioning lists the processes other than this one whose
// command line contains s.
func processesMentioning(s string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cleanupUnder kills the processes this test started (containerd and its
// shims name dir on their command lines) and unmounts what they left under
// dir, so the temp dir can be removed.
func cleanupUnder(t *testing.T, dir string) {
	for _, pid := range processesMentioning(dir) {
		t.Logf("killing leftover process %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir) {
			mounts = append(mounts, fields[4])
		}
	}
	// Deepest first, so nested mounts come off before their parents.
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		t.Logf("unmounting leftover %s", m)
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}
