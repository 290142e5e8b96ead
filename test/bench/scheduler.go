package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// schedulingResult is what schedulerThroughput measured.
type schedulingResult struct {
	bound            int
	createdPerSecond float64       // pod creates per second, to tell the API server's share
	perSecond        float64       // bound pods per second, from the first create to the last binding
	p50, p99         time.Duration // create -> bound, per pod
}

// schedulerThroughput creates nodes fake Nodes (Ready, 32 cpu, 128 GiB,
// 110 pods; nobody runs them) and then pods pods from creators goroutines,
// and watches until every pod has a node or timeout passes. It needs a
// scheduler running against client's API server.
func schedulerThroughput(ctx context.Context, client kubernetes.Interface, nodes, pods, creators int, timeout time.Duration) (schedulingResult, error) {
	const ns = "bench-scheduler"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return schedulingResult{}, err
	}
	if err := createBenchNodes(ctx, client, nodes, creators); err != nil {
		return schedulingResult{}, err
	}

	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return schedulingResult{}, err
	}
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return schedulingResult{}, err
	}
	defer w.Stop()

	created := make([]time.Time, pods) // when each create was sent
	var createdMu sync.Mutex
	start := time.Now()
	var createErr atomic.Value
	var createsDone atomic.Int64 // nanoseconds after start when the last create returned
	go func() {
		defer func() { createsDone.Store(int64(time.Since(start))) }()
		var wg sync.WaitGroup
		for c := 0; c < creators; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := c; i < pods; i += creators {
					t := time.Now()
					createdMu.Lock()
					created[i] = t
					createdMu.Unlock()
					if _, err := client.CoreV1().Pods(ns).Create(ctx, benchPod(i), metav1.CreateOptions{}); err != nil {
						createErr.Store(err)
						return
					}
				}
			}(c)
		}
		wg.Wait()
	}()

	boundAt := make(map[string]time.Time, pods)
	var last time.Time
	deadline := time.After(timeout)
	for len(boundAt) < pods {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return schedulingResult{}, fmt.Errorf("pod watch closed after %d bindings", len(boundAt))
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || pod.Spec.NodeName == "" {
				continue
			}
			if _, seen := boundAt[pod.Name]; !seen {
				last = time.Now()
				boundAt[pod.Name] = last
			}
		case <-deadline:
			return result(boundAt, created, &createdMu, start, last, pods, createsDone.Load()), fmt.Errorf("only %d of %d pods bound within %v", len(boundAt), pods, timeout)
		}
		if err, _ := createErr.Load().(error); err != nil {
			return schedulingResult{}, fmt.Errorf("creating pods: %w", err)
		}
	}
	return result(boundAt, created, &createdMu, start, last, pods, createsDone.Load()), nil
}

func result(boundAt map[string]time.Time, created []time.Time, mu *sync.Mutex, start, last time.Time, pods int, createsNanos int64) schedulingResult {
	mu.Lock()
	defer mu.Unlock()
	r := schedulingResult{bound: len(boundAt)}
	if createsNanos > 0 {
		r.createdPerSecond = float64(pods) / time.Duration(createsNanos).Seconds()
	}
	if len(boundAt) == 0 {
		return r
	}
	lat := make([]time.Duration, 0, len(boundAt))
	for name, at := range boundAt {
		var i int
		if _, err := fmt.Sscanf(name, "bench-%d", &i); err == nil && i < len(created) {
			lat = append(lat, at.Sub(created[i]))
		}
	}
	r.perSecond = float64(len(boundAt)) / last.Sub(start).Seconds()
	r.p50, r.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
	return r
}

func createBenchNodes(ctx context.Context, client kubernetes.Interface, n, workers int) error {
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				name := fmt.Sprintf("bench-node-%d", i)
				node := &corev1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
					Status: corev1.NodeStatus{
						Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("128Gi"), corev1.ResourcePods: resource.MustParse("110")},
						Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
							LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
					},
				}
				node.Status.Allocatable = node.Status.Capacity
				created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
				if err == nil {
					// Status set on create may be dropped; set it for sure.
					created.Status = node.Status
					_, err = client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
				}
				if err != nil {
					errs <- fmt.Errorf("node %s: %w", name, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i), Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
}
