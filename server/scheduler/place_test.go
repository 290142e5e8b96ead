package scheduler

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// testScheduler is a Scheduler with only what place needs: no API.
func testScheduler(c *nodeCache) *Scheduler {
	return &Scheduler{cache: c, rand: rand.New(rand.NewPCG(1, 2))}
}

// placeOn places pod into a cluster of nodes with pods already placed,
// and returns the chosen node ("" if none fits).
func placeOn(t *testing.T, nodes []*corev1.Node, placed []*corev1.Pod, pod *corev1.Pod) string {
	t.Helper()
	s := testScheduler(testCluster(nodes, placed...))
	return s.placeForTest(pod).node
}

// placeForTest is place without listers: no namespaces, no Services.
func (s *Scheduler) placeForTest(pod *corev1.Pod) placement {
	s.lookupNamespace = testNsLabels
	s.lookupNamespaces = testNsMatching
	s.lookupServices = func(string) []*corev1.Service { return nil }
	return s.place(pod)
}

func TestPlaceAssumesThePod(t *testing.T) {
	s := testScheduler(testCluster([]*corev1.Node{testNode("only", "1", "1Gi")}))
	first := testPod("first", "600m", "")
	if got := s.placeForTest(first); got.node != "only" {
		t.Fatalf("first: %+v", got)
	}
	if !s.cache.placed(first.UID) {
		t.Fatal("first not assumed")
	}
	second := s.placeForTest(testPod("second", "600m", ""))
	want := "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
	if second.node != "" || second.message != want || second.rejectors != byResources {
		t.Fatalf("second: %+v\nwant message %q", second, want)
	}
	s.cache.forget(first.UID)
	if got := s.placeForTest(testPod("third", "600m", "")); got.node != "only" {
		t.Errorf("after forgetting the assumption: %+v", got)
	}
}

func TestPlaceWithoutNodes(t *testing.T) {
	got := testScheduler(newNodeCache()).placeForTest(testPod("p", "", ""))
	if got.node != "" || got.message != "no nodes available to schedule pods" || got.rejectors != byNoNodes {
		t.Errorf("%+v", got)
	}
}

func TestPlaceSpreadsAndRotates(t *testing.T) {
	var nodes []*corev1.Node
	for i := 0; i < 300; i++ {
		nodes = append(nodes, testNode(fmt.Sprintf("n%03d", i), "4", "16Gi"))
	}
	s := testScheduler(testCluster(nodes))
	if want := numFeasibleToFind(300); want != 144 { // 50 - 300/125 = 48%
		t.Fatalf("numFeasibleToFind(300) = %d", want)
	}
	perNode := map[string]int{}
	for i := 0; i < 600; i++ {
		got := s.placeForTest(testPod(fmt.Sprintf("p%d", i), "500m", "1Gi"))
		if got.node == "" {
			t.Fatalf("pod %d: %s", i, got.message)
		}
		perNode[got.node]++
	}
	if len(perNode) != 300 {
		t.Errorf("600 pods landed on %d of 300 nodes", len(perNode))
	}
	for node, n := range perNode {
		if n > 3 {
			t.Errorf("%s got %d pods: least-allocated spreading should keep it near 2", node, n)
		}
	}
}

func TestNumFeasibleToFind(t *testing.T) {
	for nodes, want := range map[int]int{1: 1, 99: 99, 100: 100, 200: 100, 1000: 420, 5000: 500, 6000: 300} {
		if got := numFeasibleToFind(nodes); got != want {
			t.Errorf("numFeasibleToFind(%d) = %d, want %d", nodes, got, want)
		}
	}
}

func TestFailureMessage(t *testing.T) {
	never := corev1.PreemptNever
	low := int32(-1)
	high := int32(1000)
	lower := int32(-5)
	lowPod := testPod("low", "", "", func(p *corev1.Pod) { p.Spec.Priority = &low })
	nodes := []*nodeInfo{
		infoFor(testNode("n1", "1", "1Gi")),
		infoFor(testNode("n2", "1", "1Gi"), lowPod),
		infoFor(testNode("n3", "1", "1Gi")),
	}
	statuses := []nodeStatus{
		{reasons: []string{"Insufficient cpu", "Insufficient memory"}, resolvable: true},
		{reasons: []string{"Insufficient cpu"}, resolvable: true},
		statusUntoleratedTaint,
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no lower priority pods", testPod("p", "", "", func(p *corev1.Pod) { p.Spec.Priority = &lower }),
			"0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), 2 Insufficient cpu. " +
				"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."},
		{"a lower priority pod on n2", testPod("p", "", "", func(p *corev1.Pod) { p.Spec.Priority = &high }),
			"0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), 2 Insufficient cpu. " +
				"preemption: 0/3 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."},
		{"preemptionPolicy Never", testPod("p", "", "", func(p *corev1.Pod) { p.Spec.PreemptionPolicy = &never }),
			"0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), 2 Insufficient cpu. " +
				"preemption: not eligible due to preemptionPolicy=Never."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failureMessage(tt.pod, nodes, statuses); got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	if got := summary(12, map[string]int{"a": 10, "b": 2}); got != "0/12 nodes are available: 10 a, 2 b." {
		t.Errorf("counts sort as strings, as upstream's do: %q", got)
	}
	if got := truncate(strings.Repeat("x", 2000)); len(got) != 1024 || !strings.HasSuffix(got, " ...") {
		t.Errorf("truncated to %d", len(got))
	}
}
