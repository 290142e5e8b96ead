package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The DNS benchmark's Services, and the address the node answers on (the
// default --cluster-dns).
const (
	dnsBenchNamespace = "bench-dns"
	dnsBenchAddress   = "10.43.0.10"
)

// benchDNS prints the cluster DNS figures: dnsperf's queries per second
// and average latency against the node's DNS with 100 Services, as
// CoreDNS was measured, and again with 10,000, with kite's RSS at each.
// dnsperf runs on the same two cores, in the node's network namespace.
func benchDNS(ctx context.Context, bin string) {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		fail(fmt.Errorf("dnsperf not found (Debian package dnsperf; `make bench` installs it)"))
	}
	dir, err := os.MkdirTemp("", "kite-bench-dns-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	removeNetns := makeBenchNetns()
	defer removeNetns()
	start := time.Now()
	srv, client := startNodeServer(bin, dir)
	defer srv.stop()
	waitNodeReady(ctx, client, start)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dnsBenchNamespace}}, metav1.CreateOptions{}); err != nil {
		fail(err)
	}

	for _, total := range []int{100, 10000} {
		createServices(ctx, client, total)
		// Every name asked is one the server answers from its informers.
		queries := filepath.Join(dir, "queries.txt")
		var b strings.Builder
		for i := range 100 {
			fmt.Fprintf(&b, "svc-%d.%s.svc.cluster.local A\n", i*total/100, dnsBenchNamespace)
		}
		if err := os.WriteFile(queries, []byte(b.String()), 0o644); err != nil {
			fail(err)
		}
		waitDNSAnswers(fmt.Sprintf("svc-%d.%s.svc.cluster.local", total-1, dnsBenchNamespace))
		qps, latency := dnsperf(queries)
		fmt.Printf("DNS, %5d Services:     %.0f queries/s, average latency %.2f ms (dnsperf, 20 s); kite RSS %.1f MB\n",
			total, qps, latency*1000, rssMB(srv.cmd.Process.Pid))
	}
}

// createServices creates ClusterIP Services svc-N up to total, eight at a
// time.
func createServices(ctx context.Context, client kubernetes.Interface, total int) {
	existing, err := client.CoreV1().Services(dnsBenchNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(existing.Items) + w; i < total; i += 8 {
				svc := &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i)},
					Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
				}
				if _, err := client.CoreV1().Services(dnsBenchNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
					fail(err)
				}
			}
		}()
	}
	wg.Wait()
}

// waitDNSAnswers waits until the node's DNS answers name.
func waitDNSAnswers(name string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := inBenchNetns("dig", "+short", "+time=1", "@"+dnsBenchAddress, name).Output()
		if len(strings.TrimSpace(string(out))) > 0 {
			return
		}
	}
	fail(fmt.Errorf("the node's DNS does not answer %s after a minute", name))
}

var (
	dnsperfQPS     = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	dnsperfLatency = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

// dnsperf runs dnsperf for 20 s against the node's DNS with the queries in
// file and returns queries per second and the average latency in seconds.
func dnsperf(file string) (qps, latency float64) {
	out, err := inBenchNetns("dnsperf", "-s", dnsBenchAddress, "-d", file, "-l", "20").CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("dnsperf: %v: %s", err, out))
	}
	q, l := dnsperfQPS.FindSubmatch(out), dnsperfLatency.FindSubmatch(out)
	if q == nil || l == nil {
		fail(fmt.Errorf("unexpected dnsperf output: %s", out))
	}
	fmt.Sscan(string(q[1]), &qps)
	fmt.Sscan(string(l[1]), &latency)
	return qps, latency
}

// inBenchNetns is a command in the bench node's network namespace.
func inBenchNetns(argv ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + benchNetns}, argv...)...)
}
