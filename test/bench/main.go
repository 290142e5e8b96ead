// Command bench starts a real `kite server` and prints the figures the
// server foundation is judged by (time to /readyz, idle memory, create
// throughput, list latency, create-to-watch latency) and those of the
// control plane (scheduler throughput, a large Deployment, CPU and memory
// at rest with 10,000 pods), those of the agent (node Ready, pod start
// latency, 100 pods, memory), the cluster DNS and the service proxy.
// `make bench` runs it.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	bin := flag.String("kite", os.Getenv("KITE_BIN"), "kite binary")
	idle := flag.Duration("idle", 30*time.Second, "idle time before reading RSS")
	only := flag.String("only", "", `run one group of figures: "api" (server foundation), "control-plane" (scheduler, deployment, at rest), "node" (agent: node Ready, pod start, memory), "dns" (cluster DNS with dnsperf), "proxy" (service proxy syncs at 10,000 Services) or "ingress" (built-in ingress against nginx with wrk)`)
	proxyServices := flag.Int("proxy-services", 10000, "Services (5 endpoints each) in the service proxy benchmark")
	proxyModes := flag.String("proxy-modes", "iptables,nftables", "comma-separated --proxy-mode data paths the service proxy benchmark measures")
	flag.Parse()
	if *bin == "" {
		fail(fmt.Errorf("set KITE_BIN or -kite"))
	}
	dir, err := os.MkdirTemp("", "kite-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	if *only == "" || *only == "node" {
		benchAgent(ctx, *bin, *idle)
		if *only == "node" {
			return
		}
	}
	if *only == "" || *only == "dns" {
		benchDNS(ctx, *bin)
		if *only == "dns" {
			return
		}
	}
	if *only == "" || *only == "proxy" {
		benchProxy(*proxyServices, strings.Split(*proxyModes, ","))
		if *only == "proxy" {
			return
		}
	}
	if *only == "" || *only == "ingress" {
		benchIngress(ctx, *bin)
		if *only == "ingress" {
			return
		}
	}

	fresh, srv := startServer(*bin, dir)
	srv.stop()
	restart, srv := startServer(*bin, dir)
	defer func() { srv.stop() }()
	if *only != "control-plane" {
		benchAPI(ctx, clientFor(dir, false), srv, fresh, restart, *idle)
	}
	if *only != "api" {
		// The simulated nodes and pods speak protobuf, like kubelets.
		srv = benchControlPlane(ctx, clientFor(dir, true), *bin, dir, srv)
	}
}

// benchAPI prints the server foundation's figures.
func benchAPI(ctx context.Context, client kubernetes.Interface, srv server, fresh, restart, idle time.Duration) {
	fmt.Printf("readyz after exec:       first start %v, restart %v\n", fresh.Round(time.Millisecond), restart.Round(time.Millisecond))

	time.Sleep(idle)
	fmt.Printf("RSS after %v idle:      %.1f MB\n", idle, rssMB(srv.cmd.Process.Pid))

	rate, p99 := createConfigMaps(ctx, client, "bench-a", 2000, 8)
	fmt.Printf("ConfigMap creates:       %.0f/s from 8 workers over 2000, p99 %v\n", rate, p99.Round(100*time.Microsecond))

	createConfigMaps(ctx, client, "bench-b", 8000, 8)
	p50 := listLatency(ctx, client, 20)
	fmt.Printf("list of 10,000 CMs:      p50 %v\n", p50.Round(100*time.Microsecond))

	w50, w99 := watchLatency(ctx, client, 500)
	fmt.Printf("create->watch event:     p50 %v, p99 %v over 500\n", w50.Round(10*time.Microsecond), w99.Round(10*time.Microsecond))
	fmt.Printf("RSS after the load:      %.1f MB\n", rssMB(srv.cmd.Process.Pid))
}

// benchControlPlane measures the scheduler's throughput (5,000 pods onto
// 1,000 simulated nodes) and a Deployment of 1,000 replicas, then fills
// the cluster to 10,000 pods and reads the server's CPU and RSS at rest,
// with and then without the controllers and scheduler (same data,
// restarted), so the difference is theirs. It returns the server it left
// running.
func benchControlPlane(ctx context.Context, client kubernetes.Interface, bin, dir string, srv server) server {
	sched, err := schedulerThroughput(ctx, client, 1000, 5000, 16, time.Minute)
	if err != nil {
		fmt.Printf("scheduling:              %v\n", err)
	}
	if sched.bound > 0 {
		fmt.Printf("scheduling 5,000 pods:   %.0f pods/s bound onto 1,000 nodes (created at %.0f/s from 16 workers), create->bound p50 %v, p99 %v\n",
			sched.perSecond, sched.createdPerSecond, sched.p50.Round(time.Millisecond), sched.p99.Round(time.Millisecond))
	}
	nodes := benchNodeNames(1000)
	stopBeats := startHeartbeats(client, nodes)
	took, err := deploymentRollout(ctx, client, "default", "bench-deploy", 1000, 3*time.Minute)
	if err != nil {
		fmt.Printf("deployment of 1,000:     %v\n", err)
	} else {
		fmt.Printf("deployment of 1,000:     every pod created and bound %v after the create\n", took.Round(10*time.Millisecond))
	}
	if n := countPods(ctx, client); n < 10000 {
		if _, err := deploymentRollout(ctx, client, "default", "bench-fill", int32(10000-n), 5*time.Minute); err != nil {
			fmt.Printf("filling to 10,000 pods:  %v\n", err)
			stopBeats()
			return srv
		}
	}
	time.Sleep(10 * time.Second) // let the last status writes settle
	cpu, rss := restingUsage(srv.cmd.Process.Pid, 30*time.Second)
	fmt.Printf("at rest, 10,000 pods:    %.1f%% CPU, RSS %.0f MB (API server, etcd, controllers, scheduler; 1,000 node heartbeats every 10 s)\n", cpu, rss)
	stopBeats()

	srv.stop()
	_, srv = startServer(bin, dir, "--disable-controller-manager", "--disable-scheduler")
	client = clientFor(dir, true)
	stopBeats = startHeartbeats(client, nodes)
	defer stopBeats()
	time.Sleep(10 * time.Second)
	cpu0, rss0 := restingUsage(srv.cmd.Process.Pid, 30*time.Second)
	fmt.Printf("same, no controllers:    %.1f%% CPU, RSS %.0f MB, so controllers and scheduler at rest: %.1f%% CPU, %.0f MB\n", cpu0, rss0, cpu-cpu0, rss-rss0)
	return srv
}

// clientFor is an unthrottled client of the server whose kubeconfig is in
// dir, speaking JSON as kubectl does, or protobuf as controllers and
// kubelets do.
func clientFor(dir string, protobuf bool) kubernetes.Interface {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kite.yaml"))
	if err != nil {
		fail(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	if protobuf {
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

type server struct{ cmd *exec.Cmd }

func (s server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// startServer execs kite and returns how long /readyz took to answer 200.
func startServer(bin, dir string, extraArgs ...string) (time.Duration, server) {
	port := freePort()
	args := append([]string{"server", "--disable-agent", "--data-dir", dir,
		"--write-kubeconfig", filepath.Join(dir, "kite.yaml"), "--https-listen-port", strconv.Itoa(port),
		"--etcd-client-port", strconv.Itoa(freePort()), "--etcd-peer-port", strconv.Itoa(freePort())}, extraArgs...)
	cmd := exec.Command(bin, args...)
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		fail(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	for time.Since(start) < time.Minute {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), server{cmd}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	fail(fmt.Errorf("server did not become ready; see %s", log.Name()))
	return 0, server{}
}

func createConfigMaps(ctx context.Context, client kubernetes.Interface, prefix string, n, workers int) (perSecond float64, p99 time.Duration) {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i)}, Data: map[string]string{"key": "value"}}
				t := time.Now()
				if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					fail(err)
				}
				lat[i] = time.Since(t)
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	return float64(n) / elapsed.Seconds(), percentile(lat, 0.99)
}

func listLatency(ctx context.Context, client kubernetes.Interface, runs int) time.Duration {
	var lat []time.Duration
	for i := 0; i < runs; i++ {
		t := time.Now()
		list, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			fail(err)
		}
		lat = append(lat, time.Since(t))
		if len(list.Items) < 10000 {
			fail(fmt.Errorf("listed %d ConfigMaps, want 10000", len(list.Items)))
		}
	}
	return percentile(lat, 0.5)
}

func watchLatency(ctx context.Context, client kubernetes.Interface, n int) (p50, p99 time.Duration) {
	ns := "bench-watch"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		fail(err)
	}
	list, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fail(err)
	}
	w, err := client.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		fail(err)
	}
	defer w.Stop()
	var lat []time.Duration
	for i := 0; i < n; i++ {
		t := time.Now()
		if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%d", i)}}, metav1.CreateOptions{}); err != nil {
			fail(err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added && ev.Object.(*corev1.ConfigMap).Name == fmt.Sprintf("w-%d", i) {
				lat = append(lat, time.Since(t))
				break
			}
		}
	}
	return percentile(lat, 0.5), percentile(lat, 0.99)
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

func rssMB(pid int) float64 {
	return procMB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

// pssMB is a process's proportional set size: its private memory plus its
// share of what it maps together with others (the shims' common program
// text), so the figures of many processes add up.
func pssMB(pid int) float64 {
	return procMB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
}

// procMB reads the kB figure of field from a /proc file.
func procMB(path, field string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
