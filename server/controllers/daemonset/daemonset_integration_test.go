package daemonset_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kite/server/controllers/controllertest"
)

var worker = map[string]string{"role": "worker"}

// TestIntegrationPlacement: one pod per eligible node — selected by the
// node selector, tolerating the node's taints (the automatic daemon
// tolerations included) — and the set follows nodes coming, changing and
// going; the status counts match.
func TestIntegrationPlacement(t *testing.T) {
	e := start(t)
	e.addNode("n1", worker)
	e.addNode("n2", worker, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	e.addNode("n3", map[string]string{"role": "other"})
	e.addNode("n4", worker, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})

	ds := newDaemonSet("agent")
	ds.Spec.Template.Spec.NodeSelector = worker
	created := e.create(ds)
	pods := e.waitNodes("agent", "n1", "n4")

	pod := pods["n1"][0]
	if !strings.HasPrefix(pod.Name, "agent-") || pod.GenerateName != "agent-" {
		t.Errorf("pod name %q generateName %q", pod.Name, pod.GenerateName)
	}
	if ref := metav1.GetControllerOf(&pod); ref == nil || ref.UID != created.UID {
		t.Errorf("controller = %v", ref)
	}
	if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || pod.Labels["pod-template-generation"] != "1" {
		t.Errorf("labels = %v, want a revision hash and pod-template-generation 1", pod.Labels)
	}
	if pod.Spec.NodeName != "" {
		t.Errorf("pod bound to %q by the controller; the scheduler binds", pod.Spec.NodeName)
	}
	tolerated := map[string]bool{}
	for _, tol := range pod.Spec.Tolerations {
		tolerated[tol.Key+":"+string(tol.Effect)] = tol.Operator == corev1.TolerationOpExists
	}
	for _, want := range []string{
		"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
		"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
		"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule",
	} {
		if !tolerated[want] {
			t.Errorf("pod lacks the toleration %s: %v", want, pod.Spec.Tolerations)
		}
	}
	if tolerated["node.kubernetes.io/network-unavailable:NoSchedule"] {
		t.Error("network-unavailable toleration on a pod without host network")
	}

	e.waitStatus("agent", "two scheduled", func(s appsv1.DaemonSetStatus) bool {
		return s.DesiredNumberScheduled == 2 && s.CurrentNumberScheduled == 2 && s.UpdatedNumberScheduled == 2 &&
			s.NumberReady == 0 && s.NumberAvailable == 0 && s.NumberUnavailable == 2 && s.NumberMisscheduled == 0
	})
	e.readyAll("agent")
	e.waitStatus("agent", "two ready", func(s appsv1.DaemonSetStatus) bool {
		return s.NumberReady == 2 && s.NumberAvailable == 2 && s.NumberUnavailable == 0
	})

	// A new node gets a pod; so does a node whose labels start to match.
	e.addNode("n5", worker)
	e.updateNode("n3", func(n *corev1.Node) { n.Labels["role"] = "worker" })
	e.waitNodes("agent", "n1", "n3", "n4", "n5")

	// A removed node's (unbound) pod goes with it.
	if err := e.client.CoreV1().Nodes().Delete(e.ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitNodes("agent", "n3", "n4", "n5")

	// A NoSchedule taint keeps the running pod (misscheduled); a NoExecute
	// one removes it.
	e.updateNode("n5", func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	})
	e.waitStatus("agent", "n5 misscheduled", func(s appsv1.DaemonSetStatus) bool {
		return s.DesiredNumberScheduled == 2 && s.NumberMisscheduled == 1
	})
	e.waitNodes("agent", "n3", "n4", "n5")
	e.updateNode("n4", func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "evict", Effect: corev1.TaintEffectNoExecute})
	})
	e.waitNodes("agent", "n3", "n5")
}

// TestIntegrationRollingUpdate: a template change makes a new revision and
// old pods are replaced no more than maxUnavailable at a time.
func TestIntegrationRollingUpdate(t *testing.T) {
	e := start(t)
	nodes := []string{"a", "b", "c", "d"}
	for _, n := range nodes {
		e.addNode(n, nil)
	}
	ds := newDaemonSet("ru")
	two := intstr.FromInt32(2)
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &two},
	}
	e.create(ds)
	e.waitNodes("ru", nodes...)
	e.readyAll("ru")
	e.waitStatus("ru", "all available", func(s appsv1.DaemonSetStatus) bool { return s.NumberAvailable == 4 })

	e.updateSet("ru", func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	// Two nodes get new pods; the other two keep their old ones while the
	// new pods are not available.
	controllertest.WaitFor(e.t, "two pods replaced", func(context.Context) (bool, error) {
		updated := 0
		for _, pods := range e.podsByNode("ru") {
			if len(pods) == 1 && pods[0].Spec.Containers[0].Image == "busybox:2" {
				updated++
			}
		}
		return updated == 2, nil
	})
	mid := e.waitStatus("ru", "status mid-update", func(s appsv1.DaemonSetStatus) bool {
		return s.UpdatedNumberScheduled == 2 && s.NumberAvailable == 2 && s.NumberUnavailable == 2
	})
	old := 0
	for _, pods := range e.podsByNode("ru") {
		for _, p := range pods {
			if p.Spec.Containers[0].Image == "busybox:1" {
				old++
			}
		}
	}
	if old != 2 {
		t.Fatalf("%d old pods left mid-update, want 2 (status %+v)", old, mid.Status)
	}

	e.readyAll("ru")
	controllertest.WaitFor(e.t, "all pods replaced", func(context.Context) (bool, error) {
		e.readyAll("ru")
		byNode := e.podsByNode("ru")
		for _, n := range nodes {
			if len(byNode[n]) != 1 || byNode[n][0].Spec.Containers[0].Image != "busybox:2" {
				return false, nil
			}
		}
		return true, nil
	})
	e.readyAll("ru") // the last replacement may have come after the last pass
	done := e.waitStatus("ru", "update complete", func(s appsv1.DaemonSetStatus) bool {
		return s.UpdatedNumberScheduled == 4 && s.NumberAvailable == 4
	})

	// Two revisions, the newest numbered 2 and named after the pods' hash.
	revs, err := e.client.AppsV1().ControllerRevisions(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=ru"})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Fatalf("%d revisions, want 2", len(revs.Items))
	}
	hash := e.podsByNode("ru")["a"][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	for _, r := range revs.Items {
		if ref := metav1.GetControllerOf(&r); ref == nil || ref.UID != done.UID {
			t.Errorf("revision %s controller %v", r.Name, ref)
		}
		if r.Name == "ru-"+hash && r.Revision != 2 {
			t.Errorf("current revision %s numbered %d, want 2", r.Name, r.Revision)
		}
	}
}

// TestIntegrationSurge: with maxSurge a new pod starts next to the old
// one, which goes once the new one is ready.
func TestIntegrationSurge(t *testing.T) {
	e := start(t)
	e.addNode("a", nil)
	ds := newDaemonSet("sg")
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &zero, MaxSurge: &one},
	}
	e.create(ds)
	e.waitNodes("sg", "a")
	e.readyAll("sg")
	e.waitStatus("sg", "available", func(s appsv1.DaemonSetStatus) bool { return s.NumberAvailable == 1 })

	e.updateSet("sg", func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	controllertest.WaitFor(e.t, "a surge pod next to the old one", func(context.Context) (bool, error) {
		return len(e.podsByNode("sg")["a"]) == 2, nil
	})
	for _, p := range e.podsByNode("sg")["a"] {
		if p.Spec.Containers[0].Image == "busybox:2" {
			e.setPhase(p.Name, corev1.PodRunning)
		}
	}
	controllertest.WaitFor(e.t, "the old pod gone", func(context.Context) (bool, error) {
		pods := e.podsByNode("sg")["a"]
		return len(pods) == 1 && pods[0].Spec.Containers[0].Image == "busybox:2", nil
	})
}

// TestIntegrationOnDelete: OnDelete keeps old pods; a deleted one comes
// back with the new template.
func TestIntegrationOnDelete(t *testing.T) {
	e := start(t)
	e.addNode("a", nil)
	e.addNode("b", nil)
	ds := newDaemonSet("od")
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	e.create(ds)
	e.waitNodes("od", "a", "b")
	e.readyAll("od")
	e.updateSet("od", func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	e.waitStatus("od", "nothing updated", func(s appsv1.DaemonSetStatus) bool {
		return s.UpdatedNumberScheduled == 0 && s.NumberAvailable == 2
	})
	victim := e.podsByNode("od")["a"][0]
	if err := e.client.CoreV1().Pods(ns).Delete(e.ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(e.t, "a recreated with the new template", func(context.Context) (bool, error) {
		pods := e.podsByNode("od")["a"]
		return len(pods) == 1 && pods[0].Spec.Containers[0].Image == "busybox:2", nil
	})
	if p := e.podsByNode("od")["b"]; len(p) != 1 || p[0].Spec.Containers[0].Image != "busybox:1" {
		t.Errorf("b was updated under OnDelete")
	}
	e.waitStatus("od", "one updated", func(s appsv1.DaemonSetStatus) bool { return s.UpdatedNumberScheduled == 1 })
}

// TestIntegrationFailedPod: a failed daemon pod is deleted with a
// FailedDaemonPod event and replaced.
func TestIntegrationFailedPod(t *testing.T) {
	e := start(t)
	e.addNode("a", nil)
	e.create(newDaemonSet("fp"))
	first := e.waitNodes("fp", "a")["a"][0]
	e.setPhase(first.Name, corev1.PodFailed)
	controllertest.WaitFor(e.t, "failed pod replaced", func(context.Context) (bool, error) {
		pods := e.podsByNode("fp")["a"]
		return len(pods) == 1 && pods[0].UID != first.UID, nil
	})
	controllertest.WaitFor(e.t, "FailedDaemonPod event", func(context.Context) (bool, error) {
		list, err := e.client.EventsV1().Events(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		want := "Found failed daemon pod default/" + first.Name + " on node a, will try to kill it"
		for _, ev := range list.Items {
			if ev.Reason == "FailedDaemonPod" && ev.Type == corev1.EventTypeWarning && ev.Note == want &&
				ev.ReportingController == "daemonset-controller" {
				return true, nil
			}
		}
		return false, nil
	})
}
