package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The ingress benchmark's objects and addresses. The backend and nginx
// listen on the bench node's address, beside the node's ingress on :80.
const (
	ingressBenchNamespace = "bench-ingress"
	ingressBenchService   = "backend"
	ingressBenchHost      = "bench.local"
	ingressBackendPort    = 8080
	ingressNginxPort      = 8081
	// ingressBenchRounds is how often the three targets are measured in
	// turn; the best round of each is reported, with the spread.
	ingressBenchRounds = 3
	// wrk's load: the 64 connections, on two threads as
	// the machine has two cores.
	wrkThreads, wrkConnections, wrkDuration = "2", "64", "20s"
	// ingressManyIngresses is the memory figure's table size.
	ingressManyIngresses = 1000
)

// ingressBackendBody is what the backend answers every request with.
var ingressBackendBody = []byte("kite ingress benchmark backend\n")

// benchIngress prints the built-in ingress figures: wrk's requests/s and
// p99 latency through the node's ingress to a local backend, side by side
// with the same backend reached directly and through nginx as a reverse
// proxy, all on the same two cores; then kite's RSS before and after
// 1,000 more Ingresses.
func benchIngress(ctx context.Context, bin string) {
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			fail(fmt.Errorf("%s not found (Debian package %s; `make bench` installs it)", tool, tool))
		}
	}
	dir, err := os.MkdirTemp("", "kite-bench-ingress-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	removeNetns := makeBenchNetns()
	defer removeNetns()

	stopBackend := startIngressBackend()
	defer stopBackend()
	nginxPID, stopNginx := startNginx(filepath.Join(dir, "nginx"))
	defer stopNginx()

	start := time.Now()
	srv, client := startNodeServer(bin, dir)
	defer srv.stop()
	waitNodeReady(ctx, client, start)
	createIngressBackend(ctx, client)
	createBenchIngress(ctx, client, "bench", ingressBenchHost)
	waitIngressAnswers(ingressBenchHost)

	kitePID := srv.cmd.Process.Pid
	targets := []struct {
		name, url string
		header    []string
	}{
		{"direct to the backend", fmt.Sprintf("http://%s:%d/", benchNodeIP, ingressBackendPort), nil},
		{"kite ingress", fmt.Sprintf("http://%s:80/", benchNodeIP), []string{"-H", "Host: " + ingressBenchHost}},
		{"nginx reverse proxy", fmt.Sprintf("http://%s:%d/", benchNodeIP, ingressNginxPort), nil},
	}
	results := make([][]wrkResult, len(targets))
	for round := range ingressBenchRounds {
		var kiteIdle float64 // kite's CPU per second while it serves no request
		for i, t := range targets {
			kite0, nginx0, t0 := processUsage(kitePID).cpu, treeCPU(nginxPID), time.Now()
			r := runWrk(t.url, t.header)
			kiteCPU, nginxCPU, took := processUsage(kitePID).cpu-kite0, treeCPU(nginxPID)-nginx0, time.Since(t0)
			note := ""
			switch i {
			case 0:
				kiteIdle = kiteCPU.Seconds() / took.Seconds()
			case 1:
				busy := kiteCPU.Seconds() - kiteIdle*took.Seconds()
				r.cpuPerRequest = time.Duration(busy / float64(r.requests) * float64(time.Second))
				note = fmt.Sprintf(", %v CPU per request (kite, less its %.0f%% CPU at rest)", r.cpuPerRequest.Round(100*time.Nanosecond), 100*kiteIdle)
			case 2:
				r.cpuPerRequest = nginxCPU / time.Duration(r.requests)
				note = fmt.Sprintf(", %v CPU per request (nginx master and workers)", r.cpuPerRequest.Round(100*time.Nanosecond))
			}
			results[i] = append(results[i], r)
			fmt.Printf("ingress round %d, %-22s %8.0f requests/s, p99 %v%s\n", round+1, t.name+":", r.perSecond, r.p99, note)
		}
	}
	best := make([]wrkResult, len(targets))
	for i, t := range targets {
		best[i] = bestOf(results[i])
		fmt.Printf("ingress, %-24s best %.0f requests/s (%.0f–%.0f), p99 %v (%v–%v) over %d rounds of wrk -t%s -c%s -d%s\n",
			t.name+":", best[i].perSecond, minRate(results[i]), best[i].perSecond, best[i].p99, minP99(results[i]), maxP99(results[i]),
			ingressBenchRounds, wrkThreads, wrkConnections, wrkDuration)
	}
	fmt.Printf("ingress ratios:                  kite/nginx throughput %.2f (goal ≥ 0.85), kite p99 / direct p99 %.2f (goal ≤ 2), CPU per request kite/nginx %.2f; both access logs on\n",
		best[1].perSecond/best[2].perSecond, float64(best[1].p99)/float64(best[0].p99), float64(best[1].cpuPerRequest)/float64(best[2].cpuPerRequest))

	time.Sleep(5 * time.Second) // let the load's idle connections close
	before := rssMB(srv.cmd.Process.Pid)
	took := createManyIngresses(ctx, client, ingressManyIngresses)
	time.Sleep(5 * time.Second)
	fmt.Printf("ingress RSS:                     kite %.1f MB with 1 Ingress, %.1f MB with %d more (the last one answered %v after the first create; server and node in one process)\n",
		before, rssMB(srv.cmd.Process.Pid), ingressManyIngresses, took.Round(10*time.Millisecond))
}

// startIngressBackend serves the fixed body on the bench node's address,
// from this process but with a socket of the bench namespace.
func startIngressBackend() (stop func()) {
	ln, err := listenInNetns(benchNetns, net.JoinHostPort(benchNodeIP, strconv.Itoa(ingressBackendPort)))
	if err != nil {
		fail(fmt.Errorf("backend: %w", err))
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(ingressBackendBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("backend: %w", err))
		}
	}()
	return func() { _ = srv.Close() }
}

// listenInNetns opens a TCP listener in the named namespace. Its thread
// switches back afterwards: inNetns leaves its thread to end with its
// goroutine, but the main thread cannot end, so when it is the one it
// stays in the namespace, and the namespace's cleanup (which kills every
// process in it) kills this one.
func listenInNetns(name, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Unlocked only once back in the original namespace; otherwise
		// the thread ends with this goroutine.
		runtime.LockOSThread()
		ln, err := listenSwitched(name, addr)
		done <- result{ln, err}
	}()
	r := <-done
	return r.ln, r.err
}

// listenSwitched does listenInNetns's work on the locked thread.
func listenSwitched(name, addr string) (net.Listener, error) {
	origin, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("current network namespace: %w", err)
	}
	defer origin.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, fmt.Errorf("enter network namespace %s: %w", name, err)
	}
	ln, listenErr := net.Listen("tcp", addr)
	if err := netns.Set(origin); err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return nil, fmt.Errorf("leave network namespace %s: %w", name, err)
	}
	runtime.UnlockOSThread()
	if listenErr != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, name, listenErr)
	}
	return ln, nil
}

// nginxConfig is a reverse proxy to the backend as one would set it up for
// speed (keep-alive connections to the upstream), with nginx's default
// access log format on, as kite logs every request too.
const nginxConfig = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
	access_log %[1]s/access.log combined;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream backend {
		server %[2]s;
		keepalive 64;
	}
	server {
		listen %[3]s;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		}
	}
}
`

// startNginx runs nginx in the foreground in the bench namespace with its
// own prefix, configuration and pid file under dir, and returns the
// master's process ID.
func startNginx(dir string) (pid int, stop func()) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	backend := net.JoinHostPort(benchNodeIP, strconv.Itoa(ingressBackendPort))
	listen := net.JoinHostPort(benchNodeIP, strconv.Itoa(ingressNginxPort))
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConfig, dir, backend, listen), 0o644); err != nil {
		fail(err)
	}
	cmd := inBenchNetns("nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		fail(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		fail(fmt.Errorf("nginx: %w", err))
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		// SIGQUIT is nginx's graceful stop; nsenter passes it on.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			fail(fmt.Errorf("nginx exited: %s", log))
		default:
		}
		if resp, err := hc.Get("http://" + listen + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd.Process.Pid, stop
			}
		}
	}
	stop()
	fail(fmt.Errorf("nginx does not answer 200 on %s after 10 s; see %s", listen, dir))
	return 0, nil
}

// treeCPU is the CPU time used so far by process pid and its children
// (nginx's master and workers).
func treeCPU(pid int) time.Duration {
	total := processUsage(pid).cpu
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if child, err := strconv.Atoi(e.Name()); err == nil && parentPID(child) == pid {
			total += processUsage(child).cpu
		}
	}
	return total
}

// createIngressBackend makes the backend a Service without selector whose
// one EndpointSlice, written here, names the backend's address.
func createIngressBackend(ctx context.Context, client kubernetes.Interface) {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ingressBenchNamespace}}, metav1.CreateOptions{}); err != nil {
		fail(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ingressBenchService},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, TargetPort: intstr.FromInt32(ingressBackendPort),
		}}},
	}
	if _, err := client.CoreV1().Services(ingressBenchNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		fail(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: ingressBenchService + "-bench", Labels: map[string]string{
			discoveryv1.LabelServiceName: ingressBenchService,
			discoveryv1.LabelManagedBy:   "kite-bench",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{
			Name: ptr.To("http"), Port: ptr.To[int32](ingressBackendPort), Protocol: ptr.To(corev1.ProtocolTCP),
		}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{benchNodeIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
	}
	if _, err := client.DiscoveryV1().EndpointSlices(ingressBenchNamespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		fail(err)
	}
}

// createBenchIngress routes host to the backend Service.
func createBenchIngress(ctx context.Context, client kubernetes.Interface, name, host string) {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("kite"),
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: ingressBenchService, Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	if _, err := client.NetworkingV1().Ingresses(ingressBenchNamespace).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		fail(err)
	}
}

// createManyIngresses adds n Ingresses, each for a host of its own, eight
// at a time, and returns how long until the ingress answered the last one.
func createManyIngresses(ctx context.Context, client kubernetes.Interface, n int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				createBenchIngress(ctx, client, fmt.Sprintf("many-%d", i), fmt.Sprintf("many-%d.%s", i, ingressBenchHost))
			}
		})
	}
	wg.Wait()
	waitIngressAnswers(fmt.Sprintf("many-%d.%s", n-1, ingressBenchHost))
	return time.Since(start)
}

// waitIngressAnswers waits until the node's ingress answers 200 for host,
// reached from the host side of the bench namespace's link.
func waitIngressAnswers(host string) {
	hc := &http.Client{Timeout: time.Second}
	url := "http://" + benchNodeIP + "/"
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			fail(err)
		}
		req.Host = host
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	fail(fmt.Errorf("the ingress does not answer 200 for %s after a minute", host))
}

// wrkResult is one wrk run's figures.
type wrkResult struct {
	perSecond float64
	requests  int64
	p99       time.Duration
	// cpuPerRequest is the proxy's CPU time per request, for the proxies.
	cpuPerRequest time.Duration
}

var (
	wrkRate  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal = regexp.MustCompile(`(\d+) requests in`)
	wrkP99   = regexp.MustCompile(`\n\s+99%\s+([0-9.]+)(us|ms|s)\b`)
	wrkErrs  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

// runWrk loads url from the bench namespace and parses wrk's summary.
func runWrk(url string, extra []string) wrkResult {
	args := append([]string{"wrk", "-t" + wrkThreads, "-c" + wrkConnections, "-d" + wrkDuration, "--latency"}, extra...)
	out, err := inBenchNetns(append(args, url)...).CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("wrk %s: %v: %s", url, err, out))
	}
	if bad := wrkErrs.Find(out); bad != nil {
		fmt.Printf("ingress: wrk against %s saw errors: %s\n", url, bad)
	}
	rate, total, p99 := wrkRate.FindSubmatch(out), wrkTotal.FindSubmatch(out), wrkP99.FindSubmatch(out)
	if rate == nil || total == nil || p99 == nil {
		fail(fmt.Errorf("unexpected wrk output: %s", out))
	}
	var r wrkResult
	r.perSecond, _ = strconv.ParseFloat(string(rate[1]), 64)
	r.requests, _ = strconv.ParseInt(string(total[1]), 10, 64)
	v, _ := strconv.ParseFloat(string(p99[1]), 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p99[2])]
	r.p99 = time.Duration(v * float64(unit)).Round(10 * time.Microsecond)
	return r
}

// bestOf is the round with the highest throughput.
func bestOf(rs []wrkResult) wrkResult {
	best := rs[0]
	for _, r := range rs[1:] {
		if r.perSecond > best.perSecond {
			best = r
		}
	}
	return best
}

func minRate(rs []wrkResult) float64 {
	m := rs[0].perSecond
	for _, r := range rs[1:] {
		m = min(m, r.perSecond)
	}
	return m
}

func minP99(rs []wrkResult) time.Duration {
	m := rs[0].p99
	for _, r := range rs[1:] {
		m = min(m, r.p99)
	}
	return m
}

func maxP99(rs []wrkResult) time.Duration {
	m := rs[0].p99
	for _, r := range rs[1:] {
		m = max(m, r.p99)
	}
	return m
}
