package nodelifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/nodelifecycle"
	"kite/server/servertest"
)

const ns = "default"

// startLifecycle runs the node lifecycle controller with a short grace
// period, and the taint eviction controller.
func startLifecycle(t *testing.T, grace time.Duration) (*servertest.Server, kubernetes.Interface) {
	t.Helper()
	s, cc := controllertest.Start(t)
	lc := nodelifecycle.New(cc)
	lc.MonitorGracePeriod = grace
	lc.StartupGracePeriod = grace
	te := nodelifecycle.NewTaintEviction(cc)
	controllertest.Run(t, cc, lc, te)
	return s, s.Client
}

// createNode registers a node the way a kubelet does: the Node with a
// Ready condition, and its Lease.
func createNode(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	postStatus(t, c, name, corev1.ConditionTrue, nil)
	renewLease(t, c, name)
}

// postStatus writes the node's conditions as a kubelet would: Ready with
// the given status, and extra conditions, all freshly heartbeated.
func postStatus(t *testing.T, c kubernetes.Interface, name string, ready corev1.ConditionStatus, extra map[corev1.NodeConditionType]corev1.ConditionStatus) {
	t.Helper()
	ctx := context.Background()
	err := retryConflict(func() error {
		node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		conds := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}}
		for _, typ := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
			st := corev1.ConditionFalse
			if s, ok := extra[typ]; ok {
				st = s
			}
			conds = append(conds, corev1.NodeCondition{Type: typ, Status: st, Reason: "KubeletHasSufficient", LastHeartbeatTime: now, LastTransitionTime: now})
		}
		node.Status.Conditions = conds
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("posting status of node %s: %v", name, err)
	}
}

func renewLease(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if err := renew(c, name); err != nil {
		t.Fatalf("renewing lease of %s: %v", name, err)
	}
}

func renew(c kubernetes.Interface, name string) error {
	ctx := context.Background()
	leases := c.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	return retryConflict(func() error {
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		lease.Spec.RenewTime = &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
}

// keepAlive renews the node's Lease often until the test ends, like a
// healthy kubelet.
func keepAlive(t *testing.T, c kubernetes.Interface, name string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			_ = renew(c, name)
			select {
			case <-ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
}

func retryConflict(f func() error) error {
	var err error
	for i := 0; i < 10; i++ {
		if err = f(); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

// createPod creates a pod bound to node, Running and Ready.
func createPod(t *testing.T, c kubernetes.Interface, name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	t.Helper()
	createBarePod(t, c, name, node, tolerations...)
	return controllertest.UpdatePodStatus(t, c, ns, name, controllertest.Phase(corev1.PodRunning))
}

// createBarePod creates a pod bound to node, with no status.
func createBarePod(t *testing.T, c kubernetes.Interface, name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	t.Helper()
	pod, err := c.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:    node,
			Containers:  []corev1.Container{{Name: "c", Image: "busybox"}},
			Tolerations: tolerations,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func tolerate(key string, seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

func nodeHas(c kubernetes.Interface, name string, check func(*corev1.Node) bool) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return check(node), nil
	}
}

func hasTaint(node *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

func condition(node *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == typ {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// evicted reports whether the pod is gone or being deleted.
func evicted(ctx context.Context, c kubernetes.Interface, name string) (bool, *corev1.Pod, error) {
	pod, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	return pod.DeletionTimestamp != nil, pod, nil
}

func podEvicted(c kubernetes.Interface, name string) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		gone, _, err := evicted(ctx, c, name)
		return gone, err
	}
}

func assertNotEvicted(t *testing.T, c kubernetes.Interface, names ...string) {
	t.Helper()
	for _, name := range names {
		gone, _, err := evicted(context.Background(), c, name)
		if err != nil || gone {
			t.Fatalf("pod %s was evicted (err %v)", name, err)
		}
	}
}

// eventFor finds an events.k8s.io Event about the object with the reason.
func eventFor(c kubernetes.Interface, namespace, kind, name, reason string) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := findEvent(ctx, c, namespace, kind, name, reason)
		return err == nil, nil
	}
}

func findEvent(ctx context.Context, c kubernetes.Interface, namespace, kind, name, reason string) (string, error) {
	list, err := c.EventsV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
			return e.ReportingController + ": " + e.Note, nil
		}
	}
	return "", fmt.Errorf("no %s event for %s %s", reason, kind, name)
}

// TestIntegrationSilentNodeIsTaintedAndEvicted: a node whose kubelet stops
// heartbeating goes Unknown with upstream's reason and message, gets the
// unreachable taints, its pods are marked not Ready, and they are evicted
// as their tolerations say: at once without one, after tolerationSeconds
// with a limited one, never with an unlimited one. When the kubelet comes
// back the taints go.
func TestIntegrationSilentNodeIsTaintedAndEvicted(t *testing.T) {
	_, c := startLifecycle(t, 2*time.Second)
	ctx := context.Background()
	createNode(t, c, "healthy")
	keepAlive(t, c, "healthy")
	createNode(t, c, "silent")
	createPod(t, c, "intolerant", "silent", tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](0)))
	createPod(t, c, "patient", "silent", tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](4)))
	createPod(t, c, "loyal", "silent", tolerate(corev1.TaintNodeUnreachable, nil))
	// The API server gives a pod without tolerations upstream's 300 s.
	createPod(t, c, "defaulted", "silent")

	controllertest.WaitFor(t, "the silent node to go Unknown", nodeHas(c, "silent", func(n *corev1.Node) bool {
		for _, typ := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
			cond := condition(n, typ)
			if cond == nil || cond.Status != corev1.ConditionUnknown || cond.Reason != "NodeStatusUnknown" || cond.Message != "Kubelet stopped posting node status." {
				return false
			}
		}
		return true
	}))
	controllertest.WaitFor(t, "the unreachable taints", nodeHas(c, "silent", func(n *corev1.Node) bool {
		return hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) && hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
	}))
	controllertest.WaitFor(t, "the intolerant pod's eviction", podEvicted(c, "intolerant"))
	assertNotEvicted(t, c, "patient", "loyal", "defaulted")
	controllertest.WaitFor(t, "the patient pod's eviction", podEvicted(c, "patient"))
	assertNotEvicted(t, c, "loyal", "defaulted")

	// The evicted pods say why; the kept one is marked not Ready.
	_, pod, err := evicted(ctx, c, "intolerant")
	if err != nil {
		t.Fatal(err)
	}
	if pod != nil && !hasPodCondition(pod, corev1.DisruptionTarget, corev1.ConditionTrue, "DeletionByTaintManager") {
		t.Errorf("evicted pod lacks the DisruptionTarget condition: %+v", pod.Status.Conditions)
	}
	controllertest.WaitFor(t, "the loyal pod to be marked not Ready", func(ctx context.Context) (bool, error) {
		pod, err := c.CoreV1().Pods(ns).Get(ctx, "loyal", metav1.GetOptions{})
		return err == nil && hasPodCondition(pod, corev1.PodReady, corev1.ConditionFalse, ""), err
	})
	controllertest.WaitFor(t, "the TaintManagerEviction event", eventFor(c, ns, "Pod", "intolerant", "TaintManagerEviction"))
	if note, _ := findEvent(ctx, c, ns, "Pod", "intolerant", "TaintManagerEviction"); note != "taint-eviction-controller: Marking for deletion Pod default/intolerant" {
		t.Errorf("eviction event = %q", note)
	}
	controllertest.WaitFor(t, "the NodeNotReady event on the node", eventFor(c, ns, "Node", "silent", "NodeNotReady"))
	if note, _ := findEvent(ctx, c, ns, "Node", "silent", "NodeNotReady"); note != "node-controller: Node silent status is now: NodeNotReady" {
		t.Errorf("node event = %q", note)
	}
	controllertest.WaitFor(t, "the NodeNotReady event on the pod", eventFor(c, ns, "Pod", "loyal", "NodeNotReady"))
	controllertest.WaitFor(t, "the RegisteredNode event", eventFor(c, ns, "Node", "healthy", "RegisteredNode"))

	// The healthy node was never touched.
	node, err := c.CoreV1().Nodes().Get(ctx, "healthy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(node.Spec.Taints) != 0 || condition(node, corev1.NodeReady).Status != corev1.ConditionTrue {
		t.Errorf("healthy node changed: taints %v, conditions %v", node.Spec.Taints, node.Status.Conditions)
	}

	// The kubelet comes back.
	postStatus(t, c, "silent", corev1.ConditionTrue, nil)
	keepAlive(t, c, "silent")
	controllertest.WaitFor(t, "the taints to go", nodeHas(c, "silent", func(n *corev1.Node) bool { return len(n.Spec.Taints) == 0 }))
}

func hasPodCondition(pod *corev1.Pod, typ corev1.PodConditionType, status corev1.ConditionStatus, reason string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ && c.Status == status && (reason == "" || c.Reason == reason) {
			return true
		}
	}
	return false
}

// TestIntegrationTaintsFollowConditionsAndCordon: pressure conditions and
// a kubelet-reported NotReady become NoSchedule (and for NotReady,
// NoExecute) taints; cordon adds the unschedulable taint and uncordon
// removes it; taints of others are kept.
func TestIntegrationTaintsFollowConditionsAndCordon(t *testing.T) {
	_, c := startLifecycle(t, 5*time.Second)
	ctx := context.Background()
	createNode(t, c, "other")
	keepAlive(t, c, "other")
	createNode(t, c, "n1")
	keepAlive(t, c, "n1")
	userTaint := corev1.Taint{Key: "example.com/dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}
	if err := retryConflict(func() error {
		node, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Spec.Taints = append(node.Spec.Taints, userTaint)
		_, err = c.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	postStatus(t, c, "n1", corev1.ConditionTrue, map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeMemoryPressure: corev1.ConditionTrue, corev1.NodeDiskPressure: corev1.ConditionTrue})
	controllertest.WaitFor(t, "pressure taints", nodeHas(c, "n1", func(n *corev1.Node) bool {
		return hasTaint(n, corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule) && hasTaint(n, corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
	}))
	postStatus(t, c, "n1", corev1.ConditionTrue, nil)
	controllertest.WaitFor(t, "pressure taints to go", nodeHas(c, "n1", func(n *corev1.Node) bool {
		return !hasTaint(n, corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule) && !hasTaint(n, corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
	}))

	setUnschedulable(t, c, "n1", true)
	controllertest.WaitFor(t, "the unschedulable taint", nodeHas(c, "n1", func(n *corev1.Node) bool {
		return hasTaint(n, corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	}))
	setUnschedulable(t, c, "n1", false)
	controllertest.WaitFor(t, "the unschedulable taint to go", nodeHas(c, "n1", func(n *corev1.Node) bool {
		return !hasTaint(n, corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	}))

	postStatus(t, c, "n1", corev1.ConditionFalse, nil)
	controllertest.WaitFor(t, "the not-ready taints", nodeHas(c, "n1", func(n *corev1.Node) bool {
		return hasTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule) && hasTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
	}))
	postStatus(t, c, "n1", corev1.ConditionTrue, nil)
	controllertest.WaitFor(t, "only the user's taint to stay", nodeHas(c, "n1", func(n *corev1.Node) bool {
		return len(n.Spec.Taints) == 1 && n.Spec.Taints[0].Key == userTaint.Key
	}))
}

func setUnschedulable(t *testing.T, c kubernetes.Interface, name string, on bool) {
	t.Helper()
	controllertest.UpdateNode(t, c, name, func(n *corev1.Node) { n.Spec.Unschedulable = on })
}

// TestIntegrationAllNodesSilentStopsEviction: when no node at all is
// Ready the control plane is the likelier culprit, so as upstream the node
// goes Unknown and unschedulable but gets no NoExecute taint, and its pods
// stay.
func TestIntegrationAllNodesSilentStopsEviction(t *testing.T) {
	_, c := startLifecycle(t, 2*time.Second)
	createNode(t, c, "lonely")
	createPod(t, c, "stays", "lonely")
	controllertest.WaitFor(t, "the unreachable NoSchedule taint", nodeHas(c, "lonely", func(n *corev1.Node) bool {
		return hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule)
	}))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		node, err := c.CoreV1().Nodes().Get(context.Background(), "lonely", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if hasTaint(node, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
			t.Fatal("the only node got the NoExecute taint")
		}
		assertNotEvicted(t, c, "stays")
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIntegrationNodeNeverPosted: a node that never posted a Ready
// condition is Unknown with "never updated" once the startup grace runs out.
func TestIntegrationNodeNeverPosted(t *testing.T) {
	_, c := startLifecycle(t, 2*time.Second)
	if _, err := c.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mute"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(t, "NodeStatusNeverUpdated", nodeHas(c, "mute", func(n *corev1.Node) bool {
		cond := condition(n, corev1.NodeReady)
		return cond != nil && cond.Status == corev1.ConditionUnknown && cond.Reason == "NodeStatusNeverUpdated" && cond.Message == "Kubelet never posted node status."
	}))
}

// TestIntegrationTaintEviction: a NoExecute taint put on by hand evicts
// pods that do not tolerate it at once and those that tolerate it for a
// while later; removing the taint cancels a pending eviction, with
// upstream's events.
func TestIntegrationTaintEviction(t *testing.T) {
	s, cc := controllertest.Start(t)
	c := s.Client
	controllertest.Run(t, cc, nodelifecycle.NewTaintEviction(cc))
	ctx := context.Background()

	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const key = "example.com/maintenance"
	createPod(t, c, "plain", "n")
	createPod(t, c, "brief", "n", tolerate(key, ptr.To[int64](1)))
	createPod(t, c, "forever", "n", tolerate(key, nil))
	createPod(t, c, "long", "n", tolerate(key, ptr.To[int64](600)))

	setTaints(t, c, "n", []corev1.Taint{{Key: key, Effect: corev1.TaintEffectNoExecute}})
	controllertest.WaitFor(t, "the untolerating pod's eviction", podEvicted(c, "plain"))
	controllertest.WaitFor(t, "the briefly tolerating pod's eviction", podEvicted(c, "brief"))
	assertNotEvicted(t, c, "forever", "long")
	_, pod, err := evicted(ctx, c, "brief")
	if err != nil {
		t.Fatal(err)
	}
	if pod != nil && !hasPodCondition(pod, corev1.DisruptionTarget, corev1.ConditionTrue, "DeletionByTaintManager") {
		t.Errorf("evicted pod lacks the DisruptionTarget condition: %+v", pod.Status.Conditions)
	}

	setTaints(t, c, "n", nil)
	controllertest.WaitFor(t, "the cancellation event", func(ctx context.Context) (bool, error) {
		list, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == "long" && e.Reason == "TaintManagerEviction" && e.Note == "Cancelling deletion of Pod default/long" {
				return true, nil
			}
		}
		return false, nil
	})
	assertNotEvicted(t, c, "forever", "long")

	// A pod created on a tainted node without a toleration goes at once.
	setTaints(t, c, "n", []corev1.Taint{{Key: key, Effect: corev1.TaintEffectNoExecute}})
	createBarePod(t, c, "latecomer", "n")
	controllertest.WaitFor(t, "the latecomer's eviction", podEvicted(c, "latecomer"))
}

func setTaints(t *testing.T, c kubernetes.Interface, name string, taints []corev1.Taint) {
	t.Helper()
	controllertest.UpdateNode(t, c, name, func(n *corev1.Node) { n.Spec.Taints = taints })
}
