package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kite/server/controllers/controllertest"
	"kite/server/scheduler"
)

func startScheduler(t *testing.T) kubernetes.Interface {
	t.Helper()
	s, cc := controllertest.Start(t)
	controllertest.Run(t, cc, scheduler.New(cc))
	return s.Client
}

type nodeOpt = func(*corev1.Node)

func withTaint(key, value string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func notReady(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }

func createNode(t *testing.T, client kubernetes.Interface, name, cpu string, opts ...nodeOpt) {
	t.Helper()
	sized := func(node *corev1.Node) {
		node.Labels = map[string]string{corev1.LabelHostname: name}
		node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")}
		node.Status.Capacity = node.Status.Allocatable
	}
	controllertest.ReadyNode(t, client, name, append([]func(*corev1.Node){sized}, opts...)...)
}

func createPod(t *testing.T, client kubernetes.Interface, name, cpu string, mutate ...func(*corev1.Pod)) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
	for _, m := range mutate {
		m(pod)
	}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
}

func waitBound(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	var node string
	controllertest.WaitFor(t, "pod "+name+" to be bound", func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = pod.Spec.NodeName
		return node != "", nil
	})
	return node
}

// waitUnschedulable waits for PodScheduled=False and returns its message.
func waitUnschedulable(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	var msg string
	controllertest.WaitFor(t, "pod "+name+" to be unschedulable", func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				msg = c.Message
				return true, nil
			}
		}
		return false, nil
	})
	return msg
}

// waitEvent waits for an event about the pod with the reason and returns
// its note.
func waitEvent(t *testing.T, client kubernetes.Interface, pod, reason string) string {
	t.Helper()
	var note string
	controllertest.WaitFor(t, reason+" event for "+pod, func(ctx context.Context) (bool, error) {
		list, err := client.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == pod && e.Reason == reason {
				if e.ReportingController != "default-scheduler" {
					return false, fmt.Errorf("event reported by %q", e.ReportingController)
				}
				note = e.Note
				return true, nil
			}
		}
		return false, nil
	})
	return note
}

func TestIntegrationSchedulesPodsOntoNodesThatFit(t *testing.T) {
	client := startScheduler(t)
	createNode(t, client, "small", "1")
	createNode(t, client, "big", "4")
	createNode(t, client, "tainted", "64", withTaint("node-role.kubernetes.io/control-plane", "", corev1.TaintEffectNoSchedule))
	createNode(t, client, "down", "64", notReady)

	createPod(t, client, "needs-two", "2")
	if got := waitBound(t, client, "needs-two"); got != "big" {
		t.Errorf("needs-two bound to %s, want big", got)
	}
	if note := waitEvent(t, client, "needs-two", "Scheduled"); note != "Successfully assigned default/needs-two to big" {
		t.Errorf("Scheduled note %q", note)
	}

	createPod(t, client, "on-small", "100m", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "small"} })
	if got := waitBound(t, client, "on-small"); got != "small" {
		t.Errorf("on-small bound to %s, want small (hostname selector)", got)
	}

	createPod(t, client, "tolerates", "8", func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists}}
	})
	if got := waitBound(t, client, "tolerates"); got != "tainted" {
		t.Errorf("tolerates bound to %s, want tainted", got)
	}
}

func TestIntegrationUnschedulablePodWaitsForANode(t *testing.T) {
	client := startScheduler(t)
	createNode(t, client, "small", "1")
	createNode(t, client, "tainted", "2", withTaint("node-role.kubernetes.io/control-plane", "", corev1.TaintEffectNoSchedule))
	createNode(t, client, "down", "64", notReady)

	createPod(t, client, "huge", "32")
	want := "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s). " +
		"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	if msg := waitUnschedulable(t, client, "huge"); msg != want {
		t.Errorf("PodScheduled message\n got %q\nwant %q", msg, want)
	}
	if note := waitEvent(t, client, "huge", "FailedScheduling"); note != want {
		t.Errorf("FailedScheduling note\n got %q\nwant %q", note, want)
	}

	createNode(t, client, "roomy", "64")
	if got := waitBound(t, client, "huge"); got != "roomy" {
		t.Errorf("huge bound to %s, want roomy", got)
	}
}

func TestIntegrationResourcesFreedByFinishedPod(t *testing.T) {
	client := startScheduler(t)
	createNode(t, client, "only", "2")
	createPod(t, client, "first", "1500m")
	waitBound(t, client, "first")
	createPod(t, client, "second", "1")
	msg := waitUnschedulable(t, client, "second")
	if !strings.HasPrefix(msg, "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.") {
		t.Errorf("message %q", msg)
	}

	ctx := context.Background()
	first, err := client.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first.Status.Phase = corev1.PodSucceeded
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, first, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := waitBound(t, client, "second"); got != "only" {
		t.Errorf("second bound to %s", got)
	}
}

func TestIntegrationHostPortsAndAntiAffinitySpreadPods(t *testing.T) {
	client := startScheduler(t)
	createNode(t, client, "n1", "4")
	createNode(t, client, "n2", "4")
	withPort := func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
	}
	createPod(t, client, "port-a", "100m", withPort)
	createPod(t, client, "port-b", "100m", withPort)
	if a, b := waitBound(t, client, "port-a"), waitBound(t, client, "port-b"); a == b {
		t.Errorf("both host-port pods on %s", a)
	}
	createPod(t, client, "port-c", "100m", withPort)
	want := "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. " +
		"preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
	if msg := waitUnschedulable(t, client, "port-c"); msg != want {
		t.Errorf("message\n got %q\nwant %q", msg, want)
	}

	lonely := func(p *corev1.Pod) {
		p.Labels["role"] = "lonely"
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "lonely"}},
		}}}}
	}
	createPod(t, client, "lonely-1", "100m", lonely)
	createPod(t, client, "lonely-2", "100m", lonely)
	if a, b := waitBound(t, client, "lonely-1"), waitBound(t, client, "lonely-2"); a == b {
		t.Errorf("both anti-affine pods on %s", a)
	}
	createPod(t, client, "lonely-3", "100m", lonely)
	msg := waitUnschedulable(t, client, "lonely-3")
	want = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. " +
		"preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
	if msg != want {
		t.Errorf("message\n got %q\nwant %q", msg, want)
	}
}
