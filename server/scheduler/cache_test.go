package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestCacheTracksAssumedAndBoundPods(t *testing.T) {
	c := testCluster([]*corev1.Node{testNode("a", "4", "8Gi"), testNode("b", "4", "8Gi")})
	pod := testPod("p", "1", "")
	c.mu.Lock()
	c.assumeLocked(newPodInfo(pod), "a")
	c.mu.Unlock()
	if c.nodes["a"].requested.milliCPU != 1000 {
		t.Fatal("assumed pod not counted")
	}

	bound := pod.DeepCopy()
	bound.Spec.NodeName = "a"
	c.setAssignedPod(bound) // the informer confirms
	c.forget(pod.UID)       // a late failure report must not undo a confirmed binding
	if !c.placed(pod.UID) || c.nodes["a"].requested.milliCPU != 1000 || len(c.nodes["a"].pods) != 1 {
		t.Fatalf("confirmed pod lost: %+v", c.nodes["a"].requested)
	}

	done := bound.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	c.setAssignedPod(done)
	if c.placed(pod.UID) || c.nodes["a"].requested.milliCPU != 0 {
		t.Fatal("a finished pod still holds resources")
	}

	other := testPod("q", "1", "")
	c.mu.Lock()
	c.assumeLocked(newPodInfo(other), "b")
	c.mu.Unlock()
	c.forget(other.UID)
	if c.placed(other.UID) || len(c.nodes["b"].pods) != 0 {
		t.Fatal("forgotten assumption kept")
	}
}

func TestCacheNodesComeAndGo(t *testing.T) {
	c := newNodeCache()
	early := testPod("early", "1", "", onNode("late"))
	c.setAssignedPod(early) // a pod can be seen before its node
	if len(c.list) != 0 {
		t.Fatal("a node without a Node object is schedulable")
	}
	c.setNode(testNode("late", "4", "8Gi"))
	c.setNode(testNode("x", "4", "8Gi"))
	if len(c.list) != 2 || c.nodes["late"].requested.milliCPU != 1000 {
		t.Fatalf("list %d, requested %+v", len(c.list), c.nodes["late"].requested)
	}
	updated := testNode("late", "8", "8Gi")
	c.setNode(updated)
	if c.nodes["late"].allocatable.milliCPU != 8000 || len(c.list) != 2 {
		t.Fatal("node update not applied")
	}
	c.deleteNode("late")
	if len(c.list) != 1 || c.list[0].name != "x" || c.index["x"] != 0 {
		t.Fatalf("after delete: list %v", c.list)
	}
	if c.nodes["late"] == nil {
		t.Fatal("node info dropped while a pod still names it")
	}
	c.removePod(early.UID)
	if c.nodes["late"] != nil {
		t.Fatal("empty deleted node kept")
	}
}

func TestNodeChangeHelps(t *testing.T) {
	base := testNode("n", "4", "8Gi")
	change := func(f func(*corev1.Node)) *corev1.Node { n := base.DeepCopy(); f(n); return n }
	tests := []struct {
		name string
		node *corev1.Node
		want rejectors
	}{
		{"heartbeat only", change(func(n *corev1.Node) { n.Status.Conditions[0].Reason = "KubeletReady" }), 0},
		{"allocatable", change(func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("8") }), byResources},
		{"labels", change(func(n *corev1.Node) { n.Labels["disk"] = "ssd" }), byNodeAffinity | bySpread | byInterPod},
		{"taints", change(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}} }), byTaints},
		{"readiness", change(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }), byTaints},
		{"cordon", change(func(n *corev1.Node) { n.Spec.Unschedulable = true }), byNodeUnschedulable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nodeChangeHelps(base, tt.node); got != tt.want {
				t.Errorf("helps %b, want %b", got, tt.want)
			}
		})
	}
}

// BenchmarkPlace measures one scheduling decision (filters, scores and
// the assumption) for small pods in a 1,000-node cluster, without the API.
func BenchmarkPlace(b *testing.B) {
	var nodes []*corev1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, testNode(fmt.Sprintf("n%04d", i), "32", "128Gi"))
	}
	s := testScheduler(testCluster(nodes))
	pods := make([]*corev1.Pod, b.N)
	for i := range pods {
		pods[i] = testPod(fmt.Sprintf("p%d", i), "100m", "64Mi")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.placeForTest(pods[i]).node == "" {
			b.Fatal("no node")
		}
		if i%50000 == 49999 { // keep the nodes from filling up
			s.cache = testCluster(nodes)
		}
	}
}
