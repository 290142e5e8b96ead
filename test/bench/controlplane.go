package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// heartbeat renews a Lease in kube-node-lease for every node every 10 s,
// as kubelets do, so the node lifecycle controller keeps the simulated
// nodes Ready, until ctx ends.
func heartbeat(ctx context.Context, client kubernetes.Interface, nodes []string) {
	leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	for {
		start := time.Now()
		for _, name := range nodes {
			now := metav1.NewMicroTime(time.Now())
			lease, err := leases.Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				_, _ = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now}}, metav1.CreateOptions{})
			case err == nil:
				lease.Spec.RenewTime = &now
				_, _ = leases.Update(ctx, lease, metav1.UpdateOptions{})
			}
			if ctx.Err() != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10*time.Second - time.Since(start)):
		}
	}
}

// deploymentRollout creates a Deployment of replicas pods and returns the
// time from the create until every one of its pods exists and is bound.
func deploymentRollout(ctx context.Context, client kubernetes.Interface, ns, name string, replicas int32, timeout time.Duration) (time.Duration, error) {
	pods := client.CoreV1().Pods(ns)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return 0, err
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + name, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.local/pause:1.0"}}},
			},
		},
	}
	start := time.Now()
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	bound := map[string]bool{}
	deadline := time.After(timeout)
	for len(bound) < int(replicas) {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("watch closed with %d of %d pods bound", len(bound), replicas)
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Deleted && p.Spec.NodeName != "" {
				bound[p.Name] = true
			}
		case <-deadline:
			return 0, fmt.Errorf("%d of %d pods bound after %v", len(bound), replicas, timeout)
		}
	}
	return time.Since(start), nil
}

// usage is a process's CPU time and resident memory.
type usage struct {
	cpu time.Duration
	rss float64 // MB
}

// restingUsage is the CPU share and RSS of process pid over window.
func restingUsage(pid int, window time.Duration) (cpuPercent, rss float64) {
	before := processUsage(pid)
	time.Sleep(window)
	after := processUsage(pid)
	return 100 * (after.cpu - before.cpu).Seconds() / window.Seconds(), after.rss
}

// processUsage reads utime+stime from /proc/<pid>/stat (clock ticks of
// 1/100 s on Linux) and VmRSS.
func processUsage(pid int) usage {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fail(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields of the whole line.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return usage{cpu: time.Duration(utime+stime) * 10 * time.Millisecond, rss: rssMB(pid)}
}

// countPods is how many pods exist in the whole cluster.
func countPods(ctx context.Context, client kubernetes.Interface) int {
	total := 0
	opts := metav1.ListOptions{Limit: 5000}
	for {
		list, err := client.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			fail(err)
		}
		total += len(list.Items)
		if list.Continue == "" {
			return total
		}
		opts.Continue = list.Continue
	}
}

// benchNodeNames are the names createBenchNodes gives n nodes.
func benchNodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench-node-%d", i)
	}
	return names
}

// startHeartbeats runs heartbeat in the background; stop waits for it.
func startHeartbeats(client kubernetes.Interface, nodes []string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		heartbeat(ctx, client, nodes)
	}()
	return func() { cancel(); wg.Wait() }
}
