package apiserver_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

func TestIntegrationDelete(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("response", func(t *testing.T) { testDeleteResponse(t, e) })
	t.Run("finalizers", func(t *testing.T) { testFinalizers(t, e) })
	t.Run("preconditions", func(t *testing.T) { testDeletePreconditions(t, e) })
	t.Run("propagation policy", func(t *testing.T) { testPropagationPolicy(t, e) })
	t.Run("pod graceful deletion", func(t *testing.T) { testPodGracefulDelete(t, e) })
	t.Run("pods deleted at once", func(t *testing.T) { testPodImmediateDelete(t, e) })
	t.Run("delete collection", func(t *testing.T) { testDeleteCollection(t, e) })
}

// testDeleteResponse: a delete answers with a Success Status naming the
// object, or with the object itself for kinds that return it (pods).
func testDeleteResponse(t *testing.T, e *env) {
	ns := e.namespace(t)
	cm, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "cm", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/cm", "", nil)
	if r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	st := r.status(t)
	if st.Status != metav1.StatusSuccess || st.Details == nil || st.Details.Name != "cm" || st.Details.Kind != "configmaps" || st.Details.UID != cm.UID {
		t.Fatalf("delete Status %+v", st)
	}
	r = e.do(t, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/cm", "", nil)
	r.wantStatus(t, 404, metav1.StatusReasonNotFound)

	p := pod(ns, "p")
	if _, err := e.c.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, "DELETE", "/api/v1/namespaces/"+ns+"/pods/p", "application/json", []byte(`{"kind":"DeleteOptions","apiVersion":"v1"}`))
	var got corev1.Pod
	if err := json.Unmarshal(r.body, &got); r.code != 200 || err != nil || got.Kind != "Pod" || got.Name != "p" {
		t.Fatalf("pod delete answered %d %s", r.code, r.body)
	}
	// Malformed delete options are 400.
	if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "cm2", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/cm2", "application/json", []byte(`{"gracePeriodSeconds":"soon"`))
	r.wantStatus(t, 400, metav1.StatusReasonBadRequest)
	r = e.do(t, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/cm2", "application/json", []byte(`{"propagationPolicy":"Sometimes"}`))
	r.wantStatus(t, 422, metav1.StatusReasonInvalid)
	if _, err := e.c.CoreV1().ConfigMaps(ns).Get(ctx(t), "cm2", metav1.GetOptions{}); err != nil {
		t.Fatalf("object gone after rejected deletes: %v", err)
	}
}

func testFinalizers(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	cm := configMap(ns, "held", map[string]string{"k": "v"})
	cm.Finalizers = []string{"kite.io/hold"}
	created, err := cms.Create(ctx(t), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	r := e.do(t, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/held", "", nil)
	var resp corev1.ConfigMap
	if err := json.Unmarshal(r.body, &resp); r.code != 200 || err != nil || resp.Kind != "ConfigMap" || resp.DeletionTimestamp == nil {
		t.Fatalf("delete of a held object answered %d %s; want 200 and the object with deletionTimestamp", r.code, r.body)
	}
	got, err := cms.Get(ctx(t), "held", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("held object gone: %v", err)
	}
	if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 0 || !slices.Equal(got.Finalizers, []string{"kite.io/hold"}) {
		t.Fatalf("held object: deletionTimestamp=%v grace=%v finalizers=%v", got.DeletionTimestamp, got.DeletionGracePeriodSeconds, got.Finalizers)
	}
	if ev := next(t, w); ev.Type != watch.Modified || ev.Object.(*corev1.ConfigMap).DeletionTimestamp == nil {
		t.Fatalf("watch saw %s, want MODIFIED with deletionTimestamp", ev.Type)
	}
	// Deleting again changes nothing.
	if err := cms.Delete(ctx(t), "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, _ := cms.Get(ctx(t), "held", metav1.GetOptions{})
	if again.ResourceVersion != got.ResourceVersion || !again.DeletionTimestamp.Equal(got.DeletionTimestamp) {
		t.Fatalf("second delete rewrote the object: rv %s → %s", got.ResourceVersion, again.ResourceVersion)
	}
	// No new finalizers on an object being deleted.
	more := again.DeepCopy()
	more.Finalizers = append(more.Finalizers, "kite.io/another")
	_, err = cms.Update(ctx(t), more, metav1.UpdateOptions{})
	st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	wantCause(t, st, "metadata.finalizers", metav1.CauseType(field.ErrorTypeForbidden))
	// Other changes are still allowed while it waits.
	again.Data["k"] = "still writable"
	if _, err = cms.Update(ctx(t), again, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update of an object being deleted: %v", err)
	}
	if ev := next(t, w); ev.Type != watch.Modified {
		t.Fatalf("watch saw %s, want MODIFIED", ev.Type)
	}
	// Removing the last finalizer deletes it.
	_, err = cms.Patch(ctx(t), "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("removing the finalizer: %v", err)
	}
	_, err = cms.Get(ctx(t), "held", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	if ev := next(t, w); ev.Type != watch.Deleted {
		t.Fatalf("watch saw %s, want DELETED", ev.Type)
	}
	// A name can be reused once the object is gone.
	if _, err := cms.Create(ctx(t), configMap(ns, "held", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func testDeletePreconditions(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx(t), configMap(ns, "cm", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pre := range []metav1.Preconditions{
		{UID: ptr.To(types.UID("not-the-uid"))},
		{ResourceVersion: ptr.To("1")},
	} {
		err := cms.Delete(ctx(t), "cm", metav1.DeleteOptions{Preconditions: &pre})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	}
	if _, err := cms.Get(ctx(t), "cm", metav1.GetOptions{}); err != nil {
		t.Fatalf("object gone after failed preconditions: %v", err)
	}
	if err := cms.Delete(ctx(t), "cm", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion}}); err != nil {
		t.Fatalf("delete with matching preconditions: %v", err)
	}
}

// testPropagationPolicy: Foreground and Orphan deletes are carried out by
// the garbage collector through finalizers; the API server adds them.
func testPropagationPolicy(t *testing.T, e *env) {
	ns := e.namespace(t)
	deps := e.c.AppsV1().Deployments(ns)
	for _, c := range []struct {
		policy    metav1.DeletionPropagation
		finalizer string
	}{
		{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
		{metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
	} {
		name := "d-" + map[metav1.DeletionPropagation]string{metav1.DeletePropagationForeground: "fg", metav1.DeletePropagationOrphan: "orphan"}[c.policy]
		if _, err := deps.Create(ctx(t), deployment(ns, name, 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := deps.Delete(ctx(t), name, metav1.DeleteOptions{PropagationPolicy: &c.policy}); err != nil {
			t.Fatal(err)
		}
		got, err := deps.Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: deployment gone before the garbage collector ran: %v", c.policy, err)
		}
		if got.DeletionTimestamp == nil || !slices.Equal(got.Finalizers, []string{c.finalizer}) {
			t.Fatalf("%s: deletionTimestamp=%v finalizers=%v", c.policy, got.DeletionTimestamp, got.Finalizers)
		}
		// Marking it as deleting bumps the generation, so its controller
		// notices.
		if got.Generation != 2 {
			t.Fatalf("%s: generation %d after the delete, want 2", c.policy, got.Generation)
		}
	}
	// Background (the default) removes it at once.
	if _, err := deps.Create(ctx(t), deployment(ns, "d-bg", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := deps.Delete(ctx(t), "d-bg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	_, err := deps.Get(ctx(t), "d-bg", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
}

func testPodGracefulDelete(t *testing.T, e *env) {
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	p := pod(ns, "running")
	p.Spec.NodeName = "node-a"
	if _, err := pods.Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := pods.Delete(ctx(t), "running", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx(t), "running", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("scheduled pod removed without waiting for its kubelet: %v", err)
	}
	if got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 || got.DeletionTimestamp == nil {
		t.Fatalf("deletionGracePeriodSeconds=%v deletionTimestamp=%v, want 30s", got.DeletionGracePeriodSeconds, got.DeletionTimestamp)
	}
	// deletionTimestamp is when the grace period ends.
	if d := got.DeletionTimestamp.Sub(before); d < 28*time.Second || d > 32*time.Second {
		t.Fatalf("deletionTimestamp %v is %v after the delete, want about 30s", got.DeletionTimestamp, d)
	}
	// A shorter grace period shortens it; a longer one does not extend it.
	if err := pods.Delete(ctx(t), "running", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](10)}); err != nil {
		t.Fatal(err)
	}
	got, _ = pods.Get(ctx(t), "running", metav1.GetOptions{})
	if *got.DeletionGracePeriodSeconds != 10 {
		t.Fatalf("after a 10s delete the grace period is %d", *got.DeletionGracePeriodSeconds)
	}
	if err := pods.Delete(ctx(t), "running", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](60)}); err != nil {
		t.Fatal(err)
	}
	got, _ = pods.Get(ctx(t), "running", metav1.GetOptions{})
	if *got.DeletionGracePeriodSeconds != 10 {
		t.Fatalf("a longer grace period extended it to %d", *got.DeletionGracePeriodSeconds)
	}
	// gracePeriodSeconds=0 removes it (what the kubelet sends when the
	// containers are gone, and what --force does).
	if err := pods.Delete(ctx(t), "running", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx(t), "running", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)

	// A graceful pod with a finalizer stays until both are done.
	p = pod(ns, "held")
	p.Spec.NodeName = "node-a"
	p.Finalizers = []string{"kite.io/hold"}
	if _, err := pods.Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx(t), "held", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	got, err = pods.Get(ctx(t), "held", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("pod with a finalizer: %v %v", got, err)
	}
	if _, err := pods.Patch(ctx(t), "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx(t), "held", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
}

func testPodImmediateDelete(t *testing.T, e *env) {
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	// Never scheduled: no kubelet to wait for.
	if _, err := pods.Create(ctx(t), pod(ns, "pending"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx(t), "pending", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := pods.Get(ctx(t), "pending", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	// Finished: nothing to stop.
	p := pod(ns, "done")
	p.Spec.NodeName = "node-a"
	created, err := pods.Create(ctx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx(t), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx(t), "done", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx(t), "done", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
}

func testDeleteCollection(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	for i, name := range []string{"a", "b", "c", "d"} {
		cm := configMap(ns, name, nil)
		cm.Labels = map[string]string{"drop": []string{"yes", "no"}[i%2]}
		if _, err := cms.Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cms.DeleteCollection(ctx(t), metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, metav1.ListOptions{LabelSelector: "drop=yes"}); err != nil {
		t.Fatal(err)
	}
	l, _ := cms.List(ctx(t), metav1.ListOptions{})
	if len(l.Items) != 4 {
		t.Fatalf("dry-run deletecollection removed objects: %v", cmNames(l))
	}
	if err := cms.DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "drop=yes"}); err != nil {
		t.Fatal(err)
	}
	l, _ = cms.List(ctx(t), metav1.ListOptions{})
	if got := cmNames(l); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("after deletecollection: %v", got)
	}
	// Other namespaces are untouched.
	other := e.namespace(t)
	if _, err := e.c.CoreV1().ConfigMaps(other).Create(ctx(t), configMap(other, "keep", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CoreV1().ConfigMaps(other).Get(ctx(t), "keep", metav1.GetOptions{}); err != nil {
		t.Fatalf("deletecollection reached another namespace: %v", err)
	}
	l, _ = cms.List(ctx(t), metav1.ListOptions{})
	if len(l.Items) != 0 {
		t.Fatalf("left %v", cmNames(l))
	}
}
