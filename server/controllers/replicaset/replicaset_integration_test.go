package replicaset_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
	"kite/server/controllers/controllertest"
)

// TestIntegrationReplicaSetPods: a ReplicaSet gets its pods, named and
// owned as upstream names and owns them, with events and status; a
// deleted pod is replaced; scaling down deletes the not-ready pod first.
func TestIntegrationReplicaSetPods(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "pods")
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newRS("web", 3, "web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "3 pods", func() (bool, string) {
		got := getRS(t, c, ns, "web")
		return len(activePods(t, c, ns, "app=web")) == 3 && got.Status.Replicas == 3 && got.Status.ObservedGeneration == got.Generation, statusString(got.Status)
	})
	pods := activePods(t, c, ns, "app=web")
	name := regexp.MustCompile(`^web-[bcdfghjklmnpqrstvwxz2456789]{5}$`)
	for _, p := range pods {
		if !name.MatchString(p.Name) {
			t.Errorf("pod name %q is not web-<5 random chars>", p.Name)
		}
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("pod %s controller reference: %+v", p.Name, ref)
		}
		if p.Labels["tier"] != "web" {
			t.Errorf("pod %s lacks the template's labels: %v", p.Name, p.Labels)
		}
	}
	if got := getRS(t, c, ns, "web").Status; got.FullyLabeledReplicas != 3 || got.ReadyReplicas != 0 || ptr.Deref(got.TerminatingReplicas, -1) != 0 {
		t.Errorf("status before readiness: %s", statusString(got))
	}
	controllertest.Eventually(t, "SuccessfulCreate events", func() (bool, string) {
		notes := eventNotes(t, c, ns, "web", "SuccessfulCreate")
		for _, p := range pods {
			if !contains(notes, "Created pod: "+p.Name) {
				return false, strings.Join(notes, "; ")
			}
		}
		return true, ""
	})

	controllertest.Kubelet(t, c, ns, func(p *corev1.Pod) bool { return p.Labels["hold"] != "true" })
	controllertest.Eventually(t, "ready and available", func() (bool, string) {
		s := getRS(t, c, ns, "web").Status
		return s.ReadyReplicas == 3 && s.AvailableReplicas == 3, statusString(s)
	})

	// Scaling down deletes the pod that is not ready first. (The status
	// has said 3 ready, so its next 2 can only come from the victim.)
	now := activePods(t, c, ns, "app=web")
	victim := now[1]
	victim.Labels["hold"] = "true" // keeps the fake kubelet away
	if _, err := c.CoreV1().Pods(ns).Update(ctx, &victim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh, _ := c.CoreV1().Pods(ns).Get(ctx, victim.Name, metav1.GetOptions{})
	fresh.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
	if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "not ready seen", func() (bool, string) {
		s := getRS(t, c, ns, "web").Status
		return s.ReadyReplicas == 2, statusString(s)
	})
	scale(t, c, ns, "web", 2)
	controllertest.Eventually(t, "scaled down", func() (bool, string) {
		s := getRS(t, c, ns, "web").Status
		return len(activePods(t, c, ns, "app=web")) == 2 && s.Replicas == 2, statusString(s)
	})
	if _, err := c.CoreV1().Pods(ns).Get(ctx, victim.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the not-ready pod %s survived the scale-down (err %v)", victim.Name, err)
	}
	controllertest.Eventually(t, "SuccessfulDelete event", func() (bool, string) {
		notes := eventNotes(t, c, ns, "web", "SuccessfulDelete")
		return contains(notes, "Deleted pod: "+victim.Name), strings.Join(notes, "; ")
	})

	// A deleted pod is replaced.
	gone := activePods(t, c, ns, "app=web")[0]
	if err := c.CoreV1().Pods(ns).Delete(ctx, gone.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "replacement", func() (bool, string) {
		now := activePods(t, c, ns, "app=web")
		for _, p := range now {
			if p.Name == gone.Name {
				return false, "deleted pod still there"
			}
		}
		allReady := len(now) == 2
		for _, p := range now {
			allReady = allReady && controllers.IsPodReady(&p)
		}
		s := getRS(t, c, ns, "web").Status
		return allReady && s.AvailableReplicas == 2, statusString(s)
	})
}

// TestIntegrationReplicaSetNeverOvershoots: however pods are deleted
// under it, a ReplicaSet never has more live pods than it wants.
func TestIntegrationReplicaSetNeverOvershoots(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "burst")
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	live := map[types.UID]bool{}
	peak := 0
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				delete(live, p.UID)
			} else {
				live[p.UID] = true
			}
			peak = max(peak, len(live))
			mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)

	if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newRS("burst", 10, "burst"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	settled := func(n int) func() (bool, string) {
		return func() (bool, string) {
			s := getRS(t, c, ns, "burst").Status
			return len(activePods(t, c, ns, "app=burst")) == n && s.Replicas == int32(n), statusString(s)
		}
	}
	controllertest.Eventually(t, "10 pods", settled(10))
	for round := 0; round < 5; round++ {
		pods := activePods(t, c, ns, "app=burst")
		for _, p := range pods[:4] {
			if err := c.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
	}
	controllertest.Eventually(t, "back to 10", settled(10))
	scale(t, c, ns, "burst", 4)
	controllertest.Eventually(t, "down to 4", settled(4))
	mu.Lock()
	defer mu.Unlock()
	if peak > 10 {
		t.Errorf("up to %d pods lived at once; the ReplicaSet wants at most 10", peak)
	}
}

// TestIntegrationReplicaSetAdoption: matching orphans are adopted (and
// count), a pod that stops matching is released and replaced, and pods
// of a deleted-with-orphans ReplicaSet count as terminating while they
// terminate.
func TestIntegrationReplicaSetAdoption(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "adopt")
	for _, n := range []string{"orphan-a", "orphan-b"} {
		orphan := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"app": "adopt"}},
			// Bound to a node with no kubelet: deleting it leaves it
			// terminating.
			Spec: corev1.PodSpec{NodeName: "node-without-kubelet", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if _, err := c.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newRS("adopt", 3, "adopt"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "orphans adopted, one pod created", func() (bool, string) {
		pods := activePods(t, c, ns, "app=adopt")
		owned := 0
		for _, p := range pods {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID {
				owned++
			}
		}
		return len(pods) == 3 && owned == 3, statusString(getRS(t, c, ns, "adopt").Status)
	})
	// Labels of the template that the orphans lack: not fully labeled.
	controllertest.Eventually(t, "fullyLabeledReplicas", func() (bool, string) {
		s := getRS(t, c, ns, "adopt").Status
		return s.Replicas == 3 && s.FullyLabeledReplicas == 1, statusString(s)
	})

	// A pod relabelled out of the selector is released and replaced.
	p, err := c.CoreV1().Pods(ns).Get(ctx, "orphan-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["app"] = "elsewhere"
	if _, err := c.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "released and replaced", func() (bool, string) {
		got, err := c.CoreV1().Pods(ns).Get(ctx, "orphan-a", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return metav1.GetControllerOf(got) == nil && len(activePods(t, c, ns, "app=adopt")) == 3, "owner refs " + ownerNames(got)
	})

	// Scaled to zero, the bound pod stays terminating (no kubelet).
	scale(t, c, ns, "adopt", 0)
	controllertest.Eventually(t, "terminating counted", func() (bool, string) {
		s := getRS(t, c, ns, "adopt").Status
		return s.Replicas == 0 && ptr.Deref(s.TerminatingReplicas, -1) == 1, statusString(s)
	})
}

// TestIntegrationReplicaSetFailedCreate: pods the API refuses (here: an
// unknown PriorityClass) give a FailedCreate event and a ReplicaFailure
// condition, which clears once pods can be created.
func TestIntegrationReplicaSetFailedCreate(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "failing")
	rs := newRS("failing", 2, "failing")
	rs.Spec.Template.Spec.PriorityClassName = "not-yet"
	if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "ReplicaFailure", func() (bool, string) {
		s := getRS(t, c, ns, "failing").Status
		for _, cond := range s.Conditions {
			if cond.Type == "ReplicaFailure" && cond.Status == corev1.ConditionTrue && cond.Reason == "FailedCreate" &&
				strings.Contains(cond.Message, "no PriorityClass with name not-yet was found") {
				return true, ""
			}
		}
		return false, statusString(s)
	})
	controllertest.Eventually(t, "FailedCreate event", func() (bool, string) {
		notes := eventNotes(t, c, ns, "failing", "FailedCreate")
		for _, n := range notes {
			if strings.HasPrefix(n, "Error creating: ") && strings.Contains(n, "not-yet") {
				return true, ""
			}
		}
		return false, strings.Join(notes, "; ")
	})
	if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "not-yet"}, Value: 10}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "recovered", func() (bool, string) {
		s := getRS(t, c, ns, "failing").Status
		return s.Replicas == 2 && len(s.Conditions) == 0, statusString(s)
	})
}

// TestIntegrationReplicaSetMinReadySeconds: ready pods become available
// minReadySeconds later, with no other event to wake the controller.
func TestIntegrationReplicaSetMinReadySeconds(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "minready")
	rs := newRS("slow", 2, "slow")
	rs.Spec.MinReadySeconds = 2
	if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Kubelet(t, c, ns, nil)
	controllertest.Eventually(t, "ready", func() (bool, string) {
		s := getRS(t, c, ns, "slow").Status
		return s.ReadyReplicas == 2, statusString(s)
	})
	if s := getRS(t, c, ns, "slow").Status; s.AvailableReplicas == 2 {
		// Ready pods are at most a poll old here, far less than 2s.
		t.Errorf("available as soon as ready: %s", statusString(s))
	}
	controllertest.Eventually(t, "available", func() (bool, string) {
		s := getRS(t, c, ns, "slow").Status
		return s.AvailableReplicas == 2, statusString(s)
	})
}

func scale(t *testing.T, c kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	sc, err := c.AppsV1().ReplicaSets(ns).GetScale(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = n
	sc.ResourceVersion = "" // unconditional, as kubectl scale does
	if _, err := c.AppsV1().ReplicaSets(ns).UpdateScale(context.Background(), name, sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ownerNames(p *corev1.Pod) string {
	var names []string
	for _, r := range p.OwnerReferences {
		names = append(names, r.Kind+"/"+r.Name)
	}
	return strings.Join(names, ",")
}
