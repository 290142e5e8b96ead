package statefulset_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kite/server/controllers/controllertest"
)

// TestIntegrationOrderedReady: pods and their claims are created one at a
// time in ordinal order, each after its predecessor is running and ready,
// and removed in reverse order on scale-down.
func TestIntegrationOrderedReady(t *testing.T) {
	e := start(t, false)
	set := e.create(newSet("web", 3))

	pod := e.waitPod("web-0")
	if pod.Labels[appsv1.StatefulSetPodNameLabel] != "web-0" || pod.Labels[appsv1.PodIndexLabel] != "0" || pod.Labels[appsv1.StatefulSetRevisionLabel] == "" {
		t.Errorf("web-0 labels = %v", pod.Labels)
	}
	if pod.Spec.Hostname != "web-0" || pod.Spec.Subdomain != "svc" {
		t.Errorf("web-0 hostname %q subdomain %q, want web-0 and svc", pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != set.UID {
		t.Errorf("web-0 controller = %v, want the set", ref)
	}
	var claimVolume string
	for _, v := range pod.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claimVolume = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claimVolume != "data-web-0" {
		t.Errorf("web-0 data volume claim = %q, want data-web-0", claimVolume)
	}
	claim, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, "data-web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim data-web-0: %v", err)
	}
	if claim.Labels["app"] != "web" || len(claim.OwnerReferences) != 0 {
		t.Errorf("claim labels %v owners %v, want app=web and no owner (Retain)", claim.Labels, claim.OwnerReferences)
	}

	// The controller has seen web-0 (status counts it) and still waits.
	e.waitStatus("web", "one replica", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 1 })
	e.assertNoPod("web-1")

	e.markReady("web-0")
	e.markReady("web-1")
	e.waitStatus("web", "web-2 created", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 3 })
	e.markReady("web-2")
	got := e.waitStatus("web", "all ready", func(s appsv1.StatefulSetStatus) bool {
		return s.ReadyReplicas == 3 && s.AvailableReplicas == 3 && s.CurrentReplicas == 3 && s.UpdatedReplicas == 3
	})
	if got.Status.CurrentRevision == "" || got.Status.CurrentRevision != got.Status.UpdateRevision {
		t.Errorf("revisions current %q update %q, want equal and set", got.Status.CurrentRevision, got.Status.UpdateRevision)
	}
	for i := 0; i < 3; i++ {
		if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, "data-web-"+string(rune('0'+i)), metav1.GetOptions{}); err != nil {
			t.Errorf("claim of web-%d: %v", i, err)
		}
	}

	// The creation events carry upstream's notes.
	controllertest.WaitFor(e.t, "SuccessfulCreate events", func(context.Context) (bool, error) {
		list, err := e.client.EventsV1().Events(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var pod, claim bool
		for _, ev := range list.Items {
			if ev.Reason == "SuccessfulCreate" && ev.Regarding.Name == "web" && ev.ReportingController == "statefulset-controller" {
				pod = pod || ev.Note == "Create Pod web-0 in StatefulSet web successful"
				claim = claim || ev.Note == "Create Claim data-web-0 Pod web-0 in StatefulSet web success"
			}
		}
		if !pod || !claim {
			for _, ev := range list.Items {
				t.Logf("event %s %s: %q", ev.Reason, ev.Regarding.Name, ev.Note)
			}
		}
		return pod && claim, nil
	})

	// Scale down: the highest ordinal goes first, one at a time.
	e.updateSet("web", func(s *appsv1.StatefulSet) { one := int32(1); s.Spec.Replicas = &one })
	e.waitPodGone("web-2")
	e.waitPodGone("web-1")
	e.waitStatus("web", "one replica left", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 1 && s.ReadyReplicas == 1 })
	if _, ok := e.pod("web-0"); !ok {
		t.Fatal("web-0 was deleted on scale-down")
	}
	// Retained claims stay.
	if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, "data-web-2", metav1.GetOptions{}); err != nil {
		t.Errorf("retained claim data-web-2: %v", err)
	}
}

// TestIntegrationScaleDownReverseOrder: in ordered mode a scale-down
// waits while a remaining pod is not ready, then removes pods from the
// highest ordinal down.
func TestIntegrationScaleDownReverseOrder(t *testing.T) {
	e := start(t, false)
	e.create(newSet("db", 3))
	for i := 0; i < 3; i++ {
		e.markReady(podName("db", i))
	}
	e.waitStatus("db", "ready", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 3 })

	e.setPhase("db-0", corev1.PodPending) // db-0, which stays, turns unready
	e.waitStatus("db", "db-0 unready", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 2 })
	e.updateSet("db", func(s *appsv1.StatefulSet) { one := int32(1); s.Spec.Replicas = &one })
	e.waitStatus("db", "scale-down seen", func(s appsv1.StatefulSetStatus) bool { return true })
	if _, ok := e.pod("db-2"); !ok {
		t.Fatal("db-2 removed while db-0 is not ready")
	}
	e.setPhase("db-0", corev1.PodRunning)
	e.waitPodGone("db-2")
	e.waitPodGone("db-1")
	e.waitStatus("db", "one left", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 1 })
}

// TestIntegrationParallel: Parallel pod management creates every pod at
// once, without waiting for readiness, and deletes at once.
func TestIntegrationParallel(t *testing.T) {
	e := start(t, false)
	set := newSet("par", 3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	e.create(set)
	for i := 5; i < 8; i++ {
		e.waitPod(podName("par", i))
	}
	e.waitStatus("par", "three pods", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 3 && s.ReadyReplicas == 0 })
	e.assertNoPod("par-0")
	e.updateSet("par", func(s *appsv1.StatefulSet) { zero := int32(0); s.Spec.Replicas = &zero })
	for i := 5; i < 8; i++ {
		e.waitPodGone(podName("par", i))
	}
}

// TestIntegrationRecreate: a deleted pod comes back under the same name,
// and a failed pod is replaced.
func TestIntegrationRecreate(t *testing.T) {
	e := start(t, false)
	e.create(newSet("re", 2))
	e.markReady("re-0")
	first := e.waitPod("re-1")
	e.markReady("re-1")

	if err := e.client.CoreV1().Pods(ns).Delete(e.ctx, "re-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(e.t, "re-1 recreated", func(context.Context) (bool, error) {
		p, ok := e.pod("re-1")
		return ok && p.UID != first.UID, nil
	})

	failed := e.waitPod("re-0")
	e.setPhase("re-0", corev1.PodFailed)
	controllertest.WaitFor(e.t, "failed re-0 replaced", func(context.Context) (bool, error) {
		p, ok := e.pod("re-0")
		return ok && p.UID != failed.UID && p.Status.Phase != corev1.PodFailed, nil
	})
}

// TestIntegrationRollingUpdate: a template change makes a new revision;
// pods are replaced from the highest ordinal down, each after the
// previous replacement is ready, and not below the partition.
func TestIntegrationRollingUpdate(t *testing.T) {
	e := start(t, false)
	set := newSet("ru", 3)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(1))},
	}
	e.create(set)
	for i := 0; i < 3; i++ {
		e.markReady(podName("ru", i))
	}
	before := e.waitStatus("ru", "ready", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 3 })
	oldRev := before.Status.CurrentRevision

	e.updateSet("ru", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	updated := e.waitStatus("ru", "new update revision", func(s appsv1.StatefulSetStatus) bool { return s.UpdateRevision != oldRev })
	newRev := updated.Status.UpdateRevision

	// ru-2 is replaced first; ru-1 keeps the old revision until ru-2 is ready.
	controllertest.WaitFor(e.t, "ru-2 at the new revision", func(context.Context) (bool, error) {
		p, ok := e.pod("ru-2")
		return ok && p.Labels[appsv1.StatefulSetRevisionLabel] == newRev, nil
	})
	if p, _ := e.pod("ru-1"); p == nil || p.Labels[appsv1.StatefulSetRevisionLabel] != oldRev {
		t.Fatalf("ru-1 replaced before ru-2 was ready")
	}
	if p, _ := e.pod("ru-2"); p.Spec.Containers[0].Image != "busybox:2" {
		t.Errorf("ru-2 image %q, want busybox:2", p.Spec.Containers[0].Image)
	}
	e.markReady("ru-2")
	controllertest.WaitFor(e.t, "ru-1 at the new revision", func(context.Context) (bool, error) {
		p, ok := e.pod("ru-1")
		return ok && p.Labels[appsv1.StatefulSetRevisionLabel] == newRev, nil
	})
	e.markReady("ru-1")
	partial := e.waitStatus("ru", "partition reached", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdatedReplicas == 2 && s.CurrentReplicas == 1 && s.ReadyReplicas == 3
	})
	if partial.Status.CurrentRevision != oldRev {
		t.Errorf("current revision %q, want %q while ru-0 is below the partition", partial.Status.CurrentRevision, oldRev)
	}
	if p, _ := e.pod("ru-0"); p.Labels[appsv1.StatefulSetRevisionLabel] != oldRev {
		t.Errorf("ru-0 below the partition was updated")
	}

	// Two revisions, numbered 1 and 2, owned by the set.
	revs, err := e.client.AppsV1().ControllerRevisions(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=ru"})
	if err != nil {
		t.Fatal(err)
	}
	numbers := map[string]int64{}
	for _, r := range revs.Items {
		numbers[r.Name] = r.Revision
		if ref := metav1.GetControllerOf(&r); ref == nil || ref.Name != "ru" || !strings.HasPrefix(r.Name, "ru-") {
			t.Errorf("revision %s controller %v", r.Name, ref)
		}
	}
	if len(numbers) != 2 || numbers[oldRev] != 1 || numbers[newRev] != 2 {
		t.Errorf("revisions = %v, want %s:1 and %s:2", numbers, oldRev, newRev)
	}

	// Lifting the partition finishes the update: the new revision is current.
	e.updateSet("ru", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(0)) })
	controllertest.WaitFor(e.t, "ru-0 at the new revision", func(context.Context) (bool, error) {
		p, ok := e.pod("ru-0")
		return ok && p.Labels[appsv1.StatefulSetRevisionLabel] == newRev, nil
	})
	e.markReady("ru-0")
	e.waitStatus("ru", "update complete", func(s appsv1.StatefulSetStatus) bool {
		return s.CurrentRevision == newRev && s.UpdatedReplicas == 3 && s.CurrentReplicas == 3
	})

	// Going back to the old template reuses (and renumbers) its revision.
	e.updateSet("ru", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:1" })
	e.waitStatus("ru", "rollback revision", func(s appsv1.StatefulSetStatus) bool { return s.UpdateRevision == oldRev })
	r, err := e.client.AppsV1().ControllerRevisions(ns).Get(e.ctx, oldRev, metav1.GetOptions{})
	if err != nil || r.Revision != 3 {
		t.Errorf("rolled-back revision %v (err %v), want number 3", r.Revision, err)
	}
}

// TestIntegrationMaxUnavailable: with maxUnavailable 2 two pods are
// taken down for replacement at once.
func TestIntegrationMaxUnavailable(t *testing.T) {
	e := start(t, false)
	set := newSet("mu", 3)
	mu := intstr.FromInt32(2)
	set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: &mu}
	e.create(set)
	for i := 0; i < 3; i++ {
		e.markReady(podName("mu", i))
	}
	before := e.waitStatus("mu", "ready", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 3 })
	e.updateSet("mu", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	// With one unavailable pod allowed, mu-1 would wait for a ready mu-2;
	// with two, both go in one pass and mu-1 comes back first (in order)
	// while mu-2 is still unready or absent.
	old := before.Status.CurrentRevision
	controllertest.WaitFor(e.t, "mu-1 and mu-2 replaced together", func(context.Context) (bool, error) {
		p1, ok1 := e.pod("mu-1")
		p2, ok2 := e.pod("mu-2")
		return ok1 && p1.Labels[appsv1.StatefulSetRevisionLabel] != old &&
			(!ok2 || p2.Labels[appsv1.StatefulSetRevisionLabel] != old), nil
	})
	if p, _ := e.pod("mu-0"); p == nil || p.Labels[appsv1.StatefulSetRevisionLabel] != before.Status.CurrentRevision {
		t.Fatal("mu-0 replaced while two pods were unavailable")
	}
}

// TestIntegrationOnDelete: OnDelete leaves pods alone; a pod deleted by
// the user comes back at the new revision.
func TestIntegrationOnDelete(t *testing.T) {
	e := start(t, false)
	set := newSet("od", 2)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	e.create(set)
	e.markReady("od-0")
	e.markReady("od-1")
	before := e.waitStatus("od", "ready", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 2 })
	e.updateSet("od", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	after := e.waitStatus("od", "new revision", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdateRevision != before.Status.CurrentRevision
	})
	if after.Status.UpdatedReplicas != 0 || after.Status.CurrentReplicas != 2 {
		t.Errorf("status %+v, want 0 updated and 2 current", after.Status)
	}
	if err := e.client.CoreV1().Pods(ns).Delete(e.ctx, "od-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(e.t, "od-1 recreated at the new revision", func(context.Context) (bool, error) {
		p, ok := e.pod("od-1")
		return ok && p.Labels[appsv1.StatefulSetRevisionLabel] == after.Status.UpdateRevision, nil
	})
	if p, _ := e.pod("od-0"); p.Labels[appsv1.StatefulSetRevisionLabel] != before.Status.CurrentRevision {
		t.Error("od-0 was updated under OnDelete")
	}
}

func ptr[T any](v T) *T { return &v }

// TestIntegrationClaimRetention: with a Delete retention policy the set
// owns its claims, a scaled-down pod takes over its claim so the garbage
// collector removes it with the pod, and deleting the set removes the rest.
func TestIntegrationClaimRetention(t *testing.T) {
	e := start(t, true)
	set := newSet("ret", 2)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	created := e.create(set)
	e.markReady("ret-0")
	e.markReady("ret-1")
	e.waitStatus("ret", "ready", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 2 })
	claims := e.client.CoreV1().PersistentVolumeClaims(ns)
	for _, name := range []string{"data-ret-0", "data-ret-1"} {
		controllertest.WaitFor(e.t, name+" owned by the set", func(context.Context) (bool, error) {
			c, err := claims.Get(e.ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			ref := metav1.GetControllerOf(c)
			return ref != nil && ref.UID == created.UID, nil
		})
	}

	e.updateSet("ret", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(1)) })
	e.waitPodGone("ret-1")
	controllertest.WaitFor(e.t, "data-ret-1 collected with its pod", func(context.Context) (bool, error) {
		_, err := claims.Get(e.ctx, "data-ret-1", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := claims.Get(e.ctx, "data-ret-0", metav1.GetOptions{}); err != nil {
		t.Fatalf("data-ret-0 after scale-down: %v", err)
	}

	if err := e.client.AppsV1().StatefulSets(ns).Delete(e.ctx, "ret", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPodGone("ret-0")
	controllertest.WaitFor(e.t, "data-ret-0 collected with the set", func(context.Context) (bool, error) {
		_, err := claims.Get(e.ctx, "data-ret-0", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestIntegrationAdoption: an orphan pod with a member name and matching
// labels is adopted; a pod whose labels stop matching is released.
func TestIntegrationAdoption(t *testing.T) {
	e := start(t, false)
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ad-0", Namespace: ns, Labels: map[string]string{"app": "ad"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}
	orphan, err := e.client.CoreV1().Pods(ns).Create(e.ctx, orphan, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := newSet("ad", 1)
	set.Spec.VolumeClaimTemplates = nil
	set.Spec.Template.Spec.Containers[0].VolumeMounts = nil
	created := e.create(set)
	controllertest.WaitFor(e.t, "ad-0 adopted", func(context.Context) (bool, error) {
		p, ok := e.pod("ad-0")
		ref := metav1.GetControllerOf(p)
		return ok && p.UID == orphan.UID && ref != nil && ref.UID == created.UID, nil
	})

	pod, _ := e.pod("ad-0")
	pod.Labels["app"] = "other"
	if _, err := e.client.CoreV1().Pods(ns).Update(e.ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(e.t, "ad-0 released", func(context.Context) (bool, error) {
		p, ok := e.pod("ad-0")
		return ok && metav1.GetControllerOf(p) == nil, nil
	})
}
