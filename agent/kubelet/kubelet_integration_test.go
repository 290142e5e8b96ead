package kubelet

import (
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

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
	"kite/agent/runtime"
	"kite/agent/runtime/runtimetest"
	"kite/server/servertest"
	"kite/test/images"
)

const testNode = "kubelet-test-node"

// kubeletEnv is a running API server, containerd and kubelet.
type kubeletEnv struct {
	client  kubernetes.Interface
	rt      *runtime.Runtime
	dataDir string
	agent   string
}

// startKubeletEnv runs an in-process API server, the embedded containerd
// with the busybox test image imported, and a kubelet for testNode. Pods
// use the host network: the test needs no CNI setup.
func startKubeletEnv(t *testing.T) *kubeletEnv {
	t.Helper()
	return startKubeletEnvWith(t, nil)
}

// startKubeletEnvWith is startKubeletEnv with a hook that prepares the data
// directory before containerd starts.
func startKubeletEnvWith(t *testing.T, prepare func(dataDir string)) *kubeletEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containerd, runc and overlay mounts")
	}
	if err := runtime.CheckPrerequisites(true).Err(); err != nil {
		t.Skipf("host cannot run containers: %v", err)
	}
	dataDir := t.TempDir()
	t.Cleanup(func() { killAndUnmountUnder(t, dataDir) })
	agentDir := filepath.Join(dataDir, "agent")
	imagesDir := filepath.Join(agentDir, "images")
	if err := os.MkdirAll(imagesDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := images.Busybox(imagesDir); err != nil {
		t.Skipf("cannot build the busybox test image: %v", err)
	}

	if prepare != nil {
		prepare(dataDir)
	}
	srv := servertest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := runtime.Start(ctx, runtime.Config{DataDir: dataDir, InstallPrograms: runtimetest.InstallSelf, StartTimeout: 2 * time.Minute})
	if err != nil {
		cancel()
		t.Fatalf("start containerd: %v", err)
	}
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}}
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.Allocatable = v1.ResourceList{}
	if _, err := srv.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		cancel()
		t.Fatal(err)
	}
	k, err := New(Config{
		NodeName:      testNode,
		NodeIPs:       []string{"127.0.0.1"},
		Client:        srv.Client,
		Runtime:       rt.RuntimeService(),
		Images:        rt.ImageService(),
		DataDir:       agentDir,
		PodLogsDir:    filepath.Join(dataDir, "pod-logs"),
		StaticPodsDir: filepath.Join(dataDir, "manifests"),
		ClusterDNS:    []string{"10.43.0.10"},
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	kubeletCtx, stopKubelet := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(kubeletCtx) }()
	t.Cleanup(func() {
		// Stop the kubelet, remove every pod sandbox the test made, then
		// stop containerd.
		stopKubelet()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kubelet: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("kubelet did not stop within 30s")
		}
		removeAllSandboxes(t, rt.RuntimeService())
		cancel()
		rt.Wait()
		removeTestCgroups()
	})
	return &kubeletEnv{client: srv.Client, rt: rt, dataDir: dataDir, agent: agentDir}
}

// testWriter sends log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func removeAllSandboxes(t *testing.T, rs interface {
	ListPodSandbox(context.Context, *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	StopPodSandbox(context.Context, string) error
	RemovePodSandbox(context.Context, string) error
}) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sbs, err := rs.ListPodSandbox(ctx, nil)
	if err != nil {
		t.Logf("listing sandboxes for cleanup: %v", err)
		return
	}
	for _, sb := range sbs {
		_ = rs.StopPodSandbox(ctx, sb.Id)
		_ = rs.RemovePodSandbox(ctx, sb.Id)
		if uid := sb.Labels[crilabels.PodUID]; uid != "" {
			removePodCgroups("/sys/fs/cgroup", types.UID(uid))
		}
	}
}

// removeTestCgroups removes the QoS cgroups the test's containers needed,
// when nothing else uses them (rmdir of a busy cgroup fails harmlessly).
func removeTestCgroups() {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		for _, d := range []string{"kubepods/besteffort", "kubepods/burstable", "kubepods"} {
			_ = os.Remove(filepath.Join("/sys/fs/cgroup", e.Name(), d))
		}
	}
}

// killAndUnmountUnder kills processes naming dir on their command line
// (containerd and its shims) and unmounts what is left below dir.
func killAndUnmountUnder(t *testing.T, dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			t.Logf("killing leftover process %d", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	mounts, _ := mountsUnder(dir)
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

func busyboxPod(name string, policy v1.RestartPolicy, script string) *v1.Pod {
	no := false
	grace := int64(5)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{
			NodeName:                      testNode,
			HostNetwork:                   true,
			RestartPolicy:                 policy,
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{
				Name:            "main",
				Image:           images.BusyboxRef,
				ImagePullPolicy: v1.PullNever,
				Command:         []string{"sh", "-c", script},
			}},
		},
	}
}

// waitForPod polls the pod until cond holds, for at most a minute.
func (e *kubeletEnv) waitForPod(t *testing.T, name, what string, cond func(*v1.Pod) bool) *v1.Pod {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last *v1.Pod
	for time.Now().Before(deadline) {
		p, err := e.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("pod %s never became %s; status: %+v", name, what, last.Status)
	}
	t.Fatalf("pod %s never became %s", name, what)
	return nil
}

func (e *kubeletEnv) create(t *testing.T, pod *v1.Pod) *v1.Pod {
	t.Helper()
	p, err := e.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sandboxesOf counts the runtime's sandboxes of a pod UID.
func (e *kubeletEnv) sandboxesOf(t *testing.T, uid string) int {
	sbs, err := e.rt.RuntimeService().ListPodSandbox(context.Background(),
		&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{crilabels.PodUID: uid}})
	if err != nil {
		t.Fatal(err)
	}
	return len(sbs)
}

func TestKubeletRunsPods(t *testing.T) {
	e := startKubeletEnv(t)

	t.Run("running pod", func(t *testing.T) {
		pod := busyboxPod("sleeper", v1.RestartPolicyAlways, "echo started; exec sleep 3600")
		pod.Spec.InitContainers = []v1.Container{{
			Name: "prepare", Image: images.BusyboxRef, ImagePullPolicy: v1.PullNever,
			Command: []string{"sh", "-c", "echo init done"},
		}}
		created := e.create(t, pod)
		p := e.waitForPod(t, "sleeper", "Ready", func(p *v1.Pod) bool {
			c := findCondition(p.Status.Conditions, v1.PodReady)
			return p.Status.Phase == v1.PodRunning && c != nil && c.Status == v1.ConditionTrue
		})
		cs := p.Status.ContainerStatuses[0]
		if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.State.Running == nil || cs.RestartCount != 0 || cs.ImageID == "" {
			t.Errorf("container status = %+v", cs)
		}
		ics := p.Status.InitContainerStatuses[0]
		if ics.State.Terminated == nil || ics.State.Terminated.Reason != "Completed" {
			t.Errorf("init container status = %+v", ics)
		}
		if p.Status.PodIP != "127.0.0.1" || p.Status.HostIP != "127.0.0.1" || p.Status.StartTime == nil || p.Status.QOSClass != v1.PodQOSBestEffort {
			t.Errorf("pod status = %+v", p.Status)
		}
		// A pod at rest is not written again and again.
		time.Sleep(3 * time.Second)
		again, err := e.client.CoreV1().Pods("default").Get(context.Background(), "sleeper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again.ResourceVersion != p.ResourceVersion {
			t.Errorf("status of a pod at rest rewritten: %+v\nthen %+v", p.Status, again.Status)
		}
		logFile := filepath.Join(e.dataDir, "pod-logs", fmt.Sprintf("default_sleeper_%s", created.UID), "main", "0.log")
		waitForFileContaining(t, logFile, "started")

		// Deleting returns once the kubelet stopped everything: it
		// deletes the API object itself.
		if err := e.client.CoreV1().Pods("default").Delete(context.Background(), "sleeper", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitForGone(t, e.client, "sleeper")
		if n := e.sandboxesOf(t, string(created.UID)); n != 0 {
			t.Errorf("%d sandboxes left after deletion", n)
		}
		if _, err := os.Stat(filepath.Join(e.agent, "pods", string(created.UID))); !os.IsNotExist(err) {
			t.Errorf("pod directory left after deletion: %v", err)
		}
	})

	t.Run("crash loop", func(t *testing.T) {
		pod := busyboxPod("crasher", v1.RestartPolicyAlways, "echo going down > /dev/termination-log; exit 3")
		created := e.create(t, pod)
		p := e.waitForPod(t, "crasher", "in CrashLoopBackOff", func(p *v1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == waitingCrashLoopBackOff
		})
		cs := p.Status.ContainerStatuses[0]
		wantMsg := fmt.Sprintf("back-off 10s restarting failed container=main pod=crasher_default(%s)", created.UID)
		if cs.State.Waiting.Message != wantMsg {
			t.Errorf("waiting message = %q, want %q", cs.State.Waiting.Message, wantMsg)
		}
		last := cs.LastTerminationState.Terminated
		if cs.RestartCount < 1 || last == nil || last.ExitCode != 3 || last.Reason != "Error" || last.Message != "going down\n" {
			t.Errorf("restartCount %d, last state %+v", cs.RestartCount, last)
		}
		if p.Status.Phase != v1.PodRunning {
			t.Errorf("phase = %s, want Running while restarting", p.Status.Phase)
		}
		// Of the dead instances only the newest stays, for --previous.
		e.waitForPod(t, "crasher", "restarted twice", func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
		})
		deadline := time.Now().Add(10 * time.Second)
		for {
			cs, err := e.rt.RuntimeService().ListContainers(context.Background(),
				&runtimeapi.ContainerFilter{LabelSelector: map[string]string{crilabels.PodUID: string(created.UID)}})
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) <= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d containers kept for one crash-looping container, want at most 2", len(cs))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("active deadline", func(t *testing.T) {
		pod := busyboxPod("deadline", v1.RestartPolicyAlways, "exec sleep 3600")
		two := int64(2)
		pod.Spec.ActiveDeadlineSeconds = &two
		e.create(t, pod)
		p := e.waitForPod(t, "deadline", "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
		if p.Status.Reason != reasonDeadlineExceeded || p.Status.Message != messageDeadlineExceeded {
			t.Errorf("reason %q message %q", p.Status.Reason, p.Status.Message)
		}
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil {
			t.Errorf("container state = %+v, want terminated", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("run to completion", func(t *testing.T) {
		created := e.create(t, busyboxPod("job", v1.RestartPolicyNever, "exit 0"))
		p := e.waitForPod(t, "job", "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" {
			t.Errorf("container status = %+v", p.Status.ContainerStatuses[0])
		}
		// The sandbox is stopped; the dead container stays for its logs.
		deadline := time.Now().Add(30 * time.Second)
		for {
			sbs, err := e.rt.RuntimeService().ListPodSandbox(context.Background(), &runtimeapi.PodSandboxFilter{
				LabelSelector: map[string]string{crilabels.PodUID: string(created.UID)},
				State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(sbs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("sandbox of a finished pod still ready after 30s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("failing init container with Never fails the pod", func(t *testing.T) {
		pod := busyboxPod("bad-init", v1.RestartPolicyNever, "exit 0")
		pod.Spec.InitContainers = []v1.Container{{
			Name: "check", Image: images.BusyboxRef, ImagePullPolicy: v1.PullNever, Command: []string{"sh", "-c", "exit 7"},
		}}
		e.create(t, pod)
		p := e.waitForPod(t, "bad-init", "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
		if term := p.Status.InitContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 7 {
			t.Errorf("init status = %+v", p.Status.InitContainerStatuses[0])
		}
		if c := findCondition(p.Status.Conditions, v1.PodInitialized); c == nil || c.Status != v1.ConditionFalse {
			t.Errorf("Initialized = %+v", c)
		}
	})

	t.Run("missing image with pull policy Never", func(t *testing.T) {
		pod := busyboxPod("no-image", v1.RestartPolicyAlways, "true")
		pod.Spec.Containers[0].Image = "kite.test/missing:1.0"
		e.create(t, pod)
		p := e.waitForPod(t, "no-image", "ErrImageNeverPull", func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
				p.Status.ContainerStatuses[0].State.Waiting.Reason == waitingErrImageNeverPull
		})
		want := `Container image "kite.test/missing:1.0" is not present with pull policy of Never`
		if got := p.Status.ContainerStatuses[0].State.Waiting.Message; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		if p.Status.Phase != v1.PodPending {
			t.Errorf("phase = %s, want Pending", p.Status.Phase)
		}
	})

	t.Run("probes", func(t *testing.T) {
		pod := busyboxPod("probed", v1.RestartPolicyAlways,
			"touch /tmp/alive; sleep 2; touch /tmp/ready; sleep 3; rm /tmp/alive; exec sleep 3600")
		c := &pod.Spec.Containers[0]
		c.ReadinessProbe = &v1.Probe{
			ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/ready"}}},
			PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1,
		}
		c.LivenessProbe = &v1.Probe{
			ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/alive"}}},
			PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 2, SuccessThreshold: 1,
		}
		e.create(t, pod)
		e.waitForPod(t, "probed", "Ready", func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
		})
		p := e.waitForPod(t, "probed", "restarted by its liveness probe", func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		if last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode == 0 {
			t.Errorf("last state after a liveness kill = %+v", last)
		}
		e.waitForEvent(t, "probed", reasonKilling, "Container main failed liveness probe, will be restarted")
		e.waitForEvent(t, "probed", reasonUnhealthy, "Liveness probe failed: ")
	})

	t.Run("failed postStart hook", func(t *testing.T) {
		pod := busyboxPod("hooked", v1.RestartPolicyNever, "exec sleep 3600")
		pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{
			Exec: &v1.ExecAction{Command: []string{"sh", "-c", "echo nope; exit 1"}},
		}}
		e.create(t, pod)
		p := e.waitForPod(t, "hooked", "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode == 0 {
			t.Errorf("container state = %+v", p.Status.ContainerStatuses[0].State)
		}
		e.waitForEvent(t, "hooked", reasonFailedPostStartHook, "Exec lifecycle hook ([sh -c echo nope; exit 1])")
	})

	t.Run("static pod and its mirror", func(t *testing.T) {
		dir := filepath.Join(e.dataDir, "manifests")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: static-web, namespace: default}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - {name: web, image: %q, imagePullPolicy: Never, command: [sleep, "3600"]}
`, images.BusyboxRef)
		path := filepath.Join(dir, "web.yaml")
		if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		name := "static-web-" + testNode
		p := e.waitForPod(t, name, "a Running mirror", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
		if _, ok := p.Annotations[annotationConfigMirror]; !ok || len(p.OwnerReferences) != 1 || p.OwnerReferences[0].Kind != "Node" {
			t.Errorf("mirror pod metadata = %+v", p.ObjectMeta)
		}
		staticUID := p.Annotations[annotationConfigMirror]
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		waitForGone(t, e.client, name)
		deadline := time.Now().Add(30 * time.Second)
		for e.sandboxesOf(t, staticUID) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("static pod's sandbox left after its manifest was removed")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func waitForGone(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		_, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s still exists a minute after deletion", name)
}

func waitForFileContaining(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never contained %q", path, want)
}

// waitForEvent waits for an event about pod name with the reason and a
// note starting with prefix.
func (e *kubeletEnv) waitForEvent(t *testing.T, name, reason, prefix string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		list, err := e.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen = seen[:0]
		for _, ev := range list.Items {
			if ev.InvolvedObject.Name != name {
				continue
			}
			seen = append(seen, ev.Reason+": "+ev.Message)
			if ev.Reason == reason && strings.HasPrefix(ev.Message, prefix) && ev.Source.Component == "kubelet" {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no %s event %q... for pod %s; events: %q", reason, prefix, name, seen)
}
