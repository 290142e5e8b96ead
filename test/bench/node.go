package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"kite/test/images"
)

// The node benchmark runs `kite server` with its agent in a network
// namespace of its own (so its bridge, routes and iptables rules never
// touch the host's), reached from here over a veth pair.
const (
	benchNetns  = "kite-bench"
	benchHostIP = "10.251.0.1"
	benchNodeIP = "10.251.0.2"
	benchNode   = "bench-node"
)

// benchAgent prints the agent's figures: node Ready after exec, create →
// Running latency of single pods, 100 pods to Running and to deleted, and
// the memory of kite and containerd at idle and with 100 pods.
func benchAgent(ctx context.Context, bin string, idle time.Duration) {
	dir, err := os.MkdirTemp("", "kite-bench-node-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	removeNetns := makeBenchNetns()
	defer removeNetns()

	tarPath, err := images.Busybox(filepath.Join(dir, "images-cache"))
	if err != nil {
		fail(err)
	}
	imagesDir := filepath.Join(dir, "data", "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o700); err != nil {
		fail(err)
	}
	if err := os.Link(tarPath, filepath.Join(imagesDir, "busybox.tar")); err != nil {
		fail(err)
	}

	start := time.Now()
	srv, client := startNodeServer(bin, dir)
	defer srv.stop()
	ready := waitNodeReady(ctx, client, start)
	fmt.Printf("node Ready after exec:   %v (server with its agent, image present)\n", ready.Round(time.Millisecond))
	cmd := srv.cmd

	time.Sleep(idle)
	fmt.Printf("RSS after %v idle:      %s\n", idle, nodeMemory(cmd.Process.Pid))

	lat := createToRunning(ctx, client, 50)
	fmt.Printf("create->Running:         p50 %v, p99 %v over 50 pods created one at a time\n",
		percentile(lat, 0.5).Round(time.Millisecond), percentile(lat, 0.99).Round(time.Millisecond))

	running, deleted := hundredPods(ctx, client, cmd.Process.Pid)
	fmt.Printf("100 pods on one node:    all Running %v after the first create, all gone %v after the delete\n",
		running.Round(10*time.Millisecond), deleted.Round(10*time.Millisecond))
}

// startNodeServer execs `kite server` with its agent in the bench
// namespace, its data under dir, and returns a client once the server has
// written its kubeconfig.
func startNodeServer(bin, dir string) (server, kubernetes.Interface) {
	// nsenter switches only the network namespace (`ip netns exec` would
	// mount a fresh /sys and hide the cgroup mounts runc needs).
	cmd := exec.Command("nsenter", "--net=/run/netns/"+benchNetns, bin, "server", "--data-dir", filepath.Join(dir, "data"),
		"--write-kubeconfig", filepath.Join(dir, "kite.yaml"), "--node-name", benchNode, "--node-ip", benchNodeIP)
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		fail(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	return server{cmd}, waitForClient(dir, start)
}

// makeBenchNetns creates the namespace and its veth link to the host.
func makeBenchNetns() (remove func()) {
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			fail(fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out))
		}
	}
	// A run that failed may have left both behind.
	_ = exec.Command("ip", "netns", "del", benchNetns).Run()
	_ = exec.Command("ip", "link", "del", "kbench0").Run()
	run("netns", "add", benchNetns)
	run("link", "add", "kbench0", "type", "veth", "peer", "name", "kbench1")
	run("link", "set", "kbench1", "netns", benchNetns)
	run("addr", "add", benchHostIP+"/24", "dev", "kbench0")
	run("link", "set", "kbench0", "up")
	run("-n", benchNetns, "link", "set", "lo", "up")
	run("-n", benchNetns, "addr", "add", benchNodeIP+"/24", "dev", "kbench1")
	run("-n", benchNetns, "link", "set", "kbench1", "up")
	run("-n", benchNetns, "route", "add", "default", "via", benchHostIP)
	return func() {
		out, _ := exec.Command("ip", "netns", "pids", benchNetns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = exec.Command("ip", "netns", "del", benchNetns).Run()
		_ = exec.Command("ip", "link", "del", "kbench0").Run()
	}
}

// waitForClient waits for the kubeconfig the server writes and returns a
// client that reaches the server at its namespace's address.
func waitForClient(dir string, start time.Time) kubernetes.Interface {
	path := filepath.Join(dir, "kite.yaml")
	for time.Since(start) < time.Minute {
		data, err := os.ReadFile(path)
		if err == nil && len(data) > 0 {
			cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
			if err != nil {
				fail(err)
			}
			cfg.Host = "https://" + benchNodeIP + ":6443"
			cfg.QPS, cfg.Burst = -1, 0
			cfg.ContentType = "application/vnd.kubernetes.protobuf"
			return kubernetes.NewForConfigOrDie(cfg)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fail(fmt.Errorf("no kubeconfig at %s after a minute; see %s", path, filepath.Join(dir, "server.log")))
	return nil
}

// waitNodeReady polls the Node until its Ready condition is True and
// returns the time since start.
func waitNodeReady(ctx context.Context, client kubernetes.Interface, start time.Time) time.Duration {
	for time.Since(start) < 2*time.Minute {
		node, err := client.CoreV1().Nodes().Get(ctx, benchNode, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return time.Since(start)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	fail(fmt.Errorf("node %s not Ready after 2 minutes", benchNode))
	return 0
}

// agentBenchPod is a pod that ends at once on SIGTERM (a shell that waits on
// its child with a trap), so deletion measures the node, not a grace
// period.
func agentBenchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "node"}},
		Spec: corev1.PodSpec{
			NodeName:                      benchNode,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Containers: []corev1.Container{{
				Name:    "main",
				Image:   images.BusyboxRef,
				Command: []string{"sh", "-c", `trap "exit 0" TERM; sleep 3600 & wait`},
			}},
		},
	}
}

// createToRunning creates n pods one after another, each once the last is
// Running, and returns each one's create → Running latency as the watch
// saw it.
func createToRunning(ctx context.Context, client kubernetes.Interface, n int) []time.Duration {
	pods := client.CoreV1().Pods("default")
	var lat []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("single-%d", i)
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			fail(err)
		}
		start := time.Now()
		if _, err := pods.Create(ctx, agentBenchPod(name), metav1.CreateOptions{}); err != nil {
			fail(err)
		}
		if !waitPhase(w, corev1.PodRunning, time.Minute) {
			fail(fmt.Errorf("pod %s not Running after a minute", name))
		}
		lat = append(lat, time.Since(start))
	}
	deleteBenchPods(ctx, client)
	return lat
}

func waitPhase(w watch.Interface, phase corev1.PodPhase, limit time.Duration) bool {
	defer w.Stop()
	timeout := time.After(limit)
	for {
		select {
		case ev := <-w.ResultChan():
			if pod, ok := ev.Object.(*corev1.Pod); ok && pod.Status.Phase == phase {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// hundredPods creates 100 pods at once, waits for all to run, reports the
// memory, then deletes them and waits until they are gone.
func hundredPods(ctx context.Context, client kubernetes.Interface, pid int) (running, deleted time.Duration) {
	pods := client.CoreV1().Pods("default")
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < 100; i += 8 {
				if _, err := pods.Create(ctx, agentBenchPod(fmt.Sprintf("many-%d", i)), metav1.CreateOptions{}); err != nil {
					fail(err)
				}
			}
		}(w)
	}
	wg.Wait()
	for countRunning(ctx, client) < 100 {
		if time.Since(start) > 5*time.Minute {
			fail(fmt.Errorf("100 pods not Running after 5 minutes"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	running = time.Since(start)
	time.Sleep(10 * time.Second)
	fmt.Printf("RSS with 100 pods:       %s\n", nodeMemory(pid))
	start = time.Now()
	deleteBenchPods(ctx, client)
	return running, time.Since(start)
}

func countRunning(ctx context.Context, client kubernetes.Interface) int {
	list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "bench=node"})
	if err != nil {
		fail(err)
	}
	n := 0
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning {
			n++
		}
	}
	return n
}

// deleteBenchPods deletes the bench's pods and waits until the kubelet
// has torn them all down and removed them.
func deleteBenchPods(ctx context.Context, client kubernetes.Interface) {
	pods := client.CoreV1().Pods("default")
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "bench=node"}); err != nil {
		fail(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "bench=node"})
		if err != nil {
			fail(err)
		}
		if len(list.Items) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fail(fmt.Errorf("bench pods still there 5 minutes after their deletion"))
}

// nodeMemory reports the RSS of kite and of its containerd child, and the
// PSS of the shims (one per pod, started by containerd but not its
// children), which share their program text.
func nodeMemory(kitePID int) string {
	kite := rssMB(kitePID)
	var containerd, shims float64
	var nShims int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		switch {
		case filepath.Base(args[0]) == "containerd" && parentPID(pid) == kitePID:
			containerd += rssMB(pid)
		// Shims are not containerd's children either (they detach), so
		// they are known by their arguments: the k8s.io namespace and
		// this node's socket.
		case strings.Contains(string(cmdline), "-namespace\x00k8s.io\x00") && strings.Contains(string(cmdline), "kite-bench-node-"):
			shims += pssMB(pid)
			nShims++
		}
	}
	return fmt.Sprintf("kite %.1f MB + containerd %.1f MB = %.1f MB; %d shims %.1f MB (PSS)", kite, containerd, kite+containerd, nShims, shims)
}

func parentPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
