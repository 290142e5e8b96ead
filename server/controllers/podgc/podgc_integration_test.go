package podgc_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/podgc"
)

const ns = "default"

func start(t *testing.T, threshold int) kubernetes.Interface {
	t.Helper()
	s, cc := controllertest.Start(t)
	gc := podgc.New(cc)
	gc.Quarantine = time.Second
	gc.TerminatedThreshold = threshold
	controllertest.Run(t, cc, gc)
	return s.Client
}

func createNode(t *testing.T, c kubernetes.Interface, name string, ready corev1.ConditionStatus, taints ...corev1.Taint) {
	t.Helper()
	controllertest.ReadyNode(t, c, name, func(n *corev1.Node) {
		n.Spec.Taints = taints
		n.Status.Conditions[0].Status = ready
	})
}

func createPod(t *testing.T, c kubernetes.Interface, name, node string, phase corev1.PodPhase, reason string, finalizers ...string) {
	t.Helper()
	ctx := context.Background()
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.UpdatePodStatus(t, c, ns, pod.Name, func(s *corev1.PodStatus) {
		s.Phase = phase
		s.Reason = reason
	})
}

func gone(c kubernetes.Interface, name string) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

func assertExists(t *testing.T, c kubernetes.Interface, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := c.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("pod %s: %v", name, err)
		}
	}
}

// TestIntegrationOrphanedPods: pods of a deleted node, and of a node that
// never existed, are failed with upstream's DisruptionTarget condition and
// deleted after the quarantine; pods of a live node, or of a node that
// appears during the quarantine, stay.
func TestIntegrationOrphanedPods(t *testing.T) {
	c := start(t, 0)
	ctx := context.Background()
	createNode(t, c, "doomed", corev1.ConditionTrue)
	createNode(t, c, "alive", corev1.ConditionTrue)
	createPod(t, c, "on-doomed", "doomed", corev1.PodRunning, "")
	createPod(t, c, "on-alive", "alive", corev1.PodRunning, "")

	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=on-doomed"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := c.CoreV1().Nodes().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A node that shows up within the quarantine (a pod bound before its
	// node registered) keeps its pods.
	createPod(t, c, "on-late", "late", corev1.PodPending, "")
	createNode(t, c, "late", corev1.ConditionTrue)
	createPod(t, c, "on-ghost", "ghost", corev1.PodPending, "")

	// The last state before deletion says why.
	var last *corev1.Pod
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-w.ResultChan():
			pod, _ := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Deleted {
				done = true
			} else if pod != nil {
				last = pod
			}
		case <-timeout:
			t.Fatal("the orphaned pod was not deleted")
		}
	}
	if last == nil || last.Status.Phase != corev1.PodFailed {
		t.Fatalf("orphaned pod was not failed before deletion: %+v", last)
	}
	found := false
	for _, cond := range last.Status.Conditions {
		if cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == "DeletionByPodGC" && cond.Message == "PodGC: node no longer exists" {
			found = true
		}
	}
	if !found {
		t.Errorf("no DisruptionTarget condition: %+v", last.Status.Conditions)
	}
	controllertest.WaitFor(t, "the ghost node's pod to go", gone(c, "on-ghost"))
	assertExists(t, c, "on-alive", "on-late")
}

// TestIntegrationTerminatedPodsOverThreshold: beyond the threshold the
// evicted pods go first, then the oldest; running pods never count.
func TestIntegrationTerminatedPodsOverThreshold(t *testing.T) {
	c := start(t, 2)
	createNode(t, c, "n", corev1.ConditionTrue)
	createPod(t, c, "running", "n", corev1.PodRunning, "")
	createPod(t, c, "t1", "n", corev1.PodSucceeded, "")
	time.Sleep(1100 * time.Millisecond) // creation timestamps have whole seconds
	createPod(t, c, "t2", "n", corev1.PodSucceeded, "")
	createPod(t, c, "t3", "n", corev1.PodFailed, "")
	controllertest.WaitFor(t, "the oldest terminated pod to go", gone(c, "t1"))
	assertExists(t, c, "t2", "t3", "running")

	createPod(t, c, "evicted", "n", corev1.PodFailed, "Evicted")
	controllertest.WaitFor(t, "the evicted pod to go", gone(c, "evicted"))
	assertExists(t, c, "t2", "t3", "running")
}

// TestIntegrationTerminatingPods: a terminating pod bound to no node, and
// a terminating pod on an out-of-service node, are failed and force-deleted;
// a terminating pod on a node that is merely NotReady is left to its
// kubelet.
func TestIntegrationTerminatingPods(t *testing.T) {
	c := start(t, 0)
	ctx := context.Background()
	createPod(t, c, "unscheduled", "", corev1.PodPending, "", "example.com/hold")
	if err := c.CoreV1().Pods(ns).Delete(ctx, "unscheduled", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(t, "the unscheduled terminating pod to be failed", func(ctx context.Context) (bool, error) {
		pod, err := c.CoreV1().Pods(ns).Get(ctx, "unscheduled", metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodFailed, err
	})

	createNode(t, c, "dead", corev1.ConditionFalse, corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute})
	createNode(t, c, "flaky", corev1.ConditionFalse)
	createPod(t, c, "on-dead", "dead", corev1.PodRunning, "")
	createPod(t, c, "on-flaky", "flaky", corev1.PodRunning, "")
	for _, name := range []string{"on-dead", "on-flaky"} {
		if err := c.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	controllertest.WaitFor(t, "the pod on the out-of-service node to go", gone(c, "on-dead"))
	pod, err := c.CoreV1().Pods(ns).Get(ctx, "on-flaky", metav1.GetOptions{})
	if err != nil || pod.DeletionTimestamp == nil {
		t.Fatalf("the pod on the NotReady node should still be terminating: %v %v", pod, err)
	}
}
