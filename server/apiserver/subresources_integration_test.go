package apiserver_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestIntegrationSubresources(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("deployment status", func(t *testing.T) { testDeploymentStatus(t, e) })
	t.Run("pod status", func(t *testing.T) { testPodStatus(t, e) })
	t.Run("scale", func(t *testing.T) { testScale(t, e) })
	t.Run("binding", func(t *testing.T) { testBinding(t, e) })
	t.Run("eviction", func(t *testing.T) { testEviction(t, e) })
	t.Run("eviction reads its own writes", func(t *testing.T) { testEvictionAfterBudgetUpdate(t, e) })
	t.Run("namespace finalize", func(t *testing.T) { testNamespaceFinalize(t, e) })
	t.Run("unknown subresources", func(t *testing.T) { testUnknownSubresource(t, e) })
}

func testDeploymentStatus(t *testing.T, e *env) {
	ns := e.namespace(t)
	deps := e.c.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx(t), deployment(ns, "d", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// PUT /status: status is taken, spec and labels are not.
	change := d.DeepCopy()
	change.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, ObservedGeneration: 1}
	change.Spec.Replicas = ptr.To[int32](9)
	change.Labels = map[string]string{"via": "status"}
	out, err := deps.UpdateStatus(ctx(t), change, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Replicas != 3 || out.Status.ReadyReplicas != 2 || *out.Spec.Replicas != 1 || out.Labels["via"] != "" || out.Generation != 1 {
		t.Fatalf("after status update: status=%+v replicas=%d labels=%v generation=%d", out.Status, *out.Spec.Replicas, out.Labels, out.Generation)
	}
	got, _ := deps.Get(ctx(t), "d", metav1.GetOptions{})
	if got.Status.Replicas != 3 || *got.Spec.Replicas != 1 {
		t.Fatalf("stored: status.replicas=%d spec.replicas=%d", got.Status.Replicas, *got.Spec.Replicas)
	}
	// The main resource ignores status.
	change = got.DeepCopy()
	change.Status.Replicas = 42
	change.Spec.Replicas = ptr.To[int32](2)
	out, err = deps.Update(ctx(t), change, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Replicas != 3 || *out.Spec.Replicas != 2 || out.Generation != 2 {
		t.Fatalf("after main update: status.replicas=%d spec.replicas=%d generation=%d", out.Status.Replicas, *out.Spec.Replicas, out.Generation)
	}
	// PATCH /status.
	out, err = deps.Patch(ctx(t), "d", types.MergePatchType, []byte(`{"spec":{"replicas":7},"status":{"availableReplicas":1}}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.AvailableReplicas != 1 || *out.Spec.Replicas != 2 {
		t.Fatalf("after status patch: available=%d spec.replicas=%d", out.Status.AvailableReplicas, *out.Spec.Replicas)
	}
	// GET /status returns the whole object.
	r := e.do(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/d/status", "", nil)
	var viaStatus appsv1.Deployment
	if err := json.Unmarshal(r.body, &viaStatus); r.code != 200 || err != nil || viaStatus.Name != "d" || viaStatus.Status.AvailableReplicas != 1 {
		t.Fatalf("GET status: %d %s", r.code, r.body)
	}
	// A stale status update conflicts; an invalid one is 422.
	_, err = deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{})
	wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	bad := out.DeepCopy()
	bad.Status.Replicas = -1
	_, err = deps.UpdateStatus(ctx(t), bad, metav1.UpdateOptions{})
	st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	wantCause(t, st, "status.replicas", metav1.CauseTypeFieldValueInvalid)
	// Status of something missing.
	missing := deployment(ns, "missing", 1)
	missing.ResourceVersion = "1"
	_, err = deps.UpdateStatus(ctx(t), missing, metav1.UpdateOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	if _, err := deps.Get(ctx(t), "missing", metav1.GetOptions{}); err == nil {
		t.Fatal("a status update created the object")
	}
}

func testPodStatus(t *testing.T, e *env) {
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	p, err := pods.Create(ctx(t), pod(ns, "p"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != corev1.PodPending {
		t.Fatalf("new pod phase %q, want Pending", p.Status.Phase)
	}
	change := p.DeepCopy()
	change.Status.Phase = corev1.PodRunning
	change.Status.PodIP = "10.42.0.5"
	change.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.5"}}
	change.Spec.Containers[0].Image = "busybox:changed"
	out, err := pods.UpdateStatus(ctx(t), change, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Phase != corev1.PodRunning || out.Status.PodIP != "10.42.0.5" || out.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("after status update: phase=%s ip=%s image=%s", out.Status.Phase, out.Status.PodIP, out.Spec.Containers[0].Image)
	}
	// The main resource ignores status.
	change = out.DeepCopy()
	change.Status.Phase = corev1.PodFailed
	change.Labels = map[string]string{"x": "y"}
	out, err = pods.Update(ctx(t), change, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Phase != corev1.PodRunning || out.Labels["x"] != "y" {
		t.Fatalf("after main update: phase=%s labels=%v", out.Status.Phase, out.Labels)
	}
	// Pod spec is mostly immutable through the main resource.
	change = out.DeepCopy()
	change.Spec.Containers[0].Name = "renamed"
	_, err = pods.Update(ctx(t), change, metav1.UpdateOptions{})
	st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	wantCause(t, st, "spec", metav1.CauseType("FieldValueForbidden"))
	// An invalid status (a malformed pod IP) is refused.
	bad := out.DeepCopy()
	bad.Status.PodIP = "not-an-ip"
	bad.Status.PodIPs = []corev1.PodIP{{IP: "not-an-ip"}}
	_, err = pods.UpdateStatus(ctx(t), bad, metav1.UpdateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
}

func testScale(t *testing.T, e *env) {
	ns := e.namespace(t)
	deps := e.c.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx(t), deployment(ns, "d", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := deps.GetScale(ctx(t), "d", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Replicas != 2 || sc.Status.Selector != "app=d" || sc.ResourceVersion != d.ResourceVersion || sc.UID != d.UID || sc.Name != "d" || sc.Namespace != ns {
		t.Fatalf("scale %+v", sc)
	}
	if sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" {
		r := e.do(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/d/scale", "", nil)
		if !strings.Contains(string(r.body), `"kind":"Scale","apiVersion":"autoscaling/v1"`) {
			t.Fatalf("scale body %s", r.body)
		}
	}
	sc.Spec.Replicas = 5
	out, err := deps.UpdateScale(ctx(t), "d", sc, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Spec.Replicas != 5 {
		t.Fatalf("UpdateScale answered replicas %d", out.Spec.Replicas)
	}
	got, _ := deps.Get(ctx(t), "d", metav1.GetOptions{})
	if *got.Spec.Replicas != 5 || got.Generation != 2 || got.ResourceVersion != out.ResourceVersion {
		t.Fatalf("after UpdateScale: replicas=%d generation=%d rv=%s (scale rv %s)", *got.Spec.Replicas, got.Generation, got.ResourceVersion, out.ResourceVersion)
	}
	// A stale scale update conflicts.
	_, err = deps.UpdateScale(ctx(t), "d", sc, metav1.UpdateOptions{})
	wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	// Without a resourceVersion it applies unconditionally.
	unconditional := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 6}}
	if out, err = deps.UpdateScale(ctx(t), "d", unconditional, metav1.UpdateOptions{}); err != nil || out.Spec.Replicas != 6 {
		t.Fatalf("unconditional UpdateScale: %v %+v", err, out)
	}
	// Patch the scale subresource, as kubectl scale does.
	var patched autoscalingv1.Scale
	err = e.c.AppsV1().RESTClient().Patch(types.MergePatchType).Namespace(ns).Resource("deployments").Name("d").SubResource("scale").
		Body([]byte(`{"spec":{"replicas":7}}`)).Do(ctx(t)).Into(&patched)
	if err != nil {
		t.Fatal(err)
	}
	if patched.Spec.Replicas != 7 {
		t.Fatalf("patched scale %+v", patched)
	}
	got, _ = deps.Get(ctx(t), "d", metav1.GetOptions{})
	if *got.Spec.Replicas != 7 {
		t.Fatalf("replicas after scale patch %d", *got.Spec.Replicas)
	}
	// Invalid replicas.
	sc, _ = deps.GetScale(ctx(t), "d", metav1.GetOptions{})
	sc.Spec.Replicas = -1
	_, err = deps.UpdateScale(ctx(t), "d", sc, metav1.UpdateOptions{})
	st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	wantCause(t, st, "spec.replicas", metav1.CauseTypeFieldValueInvalid)
	if got, _ := deps.Get(ctx(t), "d", metav1.GetOptions{}); *got.Spec.Replicas != 7 {
		t.Fatalf("invalid scale changed replicas to %d", *got.Spec.Replicas)
	}
	// Missing deployment; a kind without scale.
	_, err = deps.GetScale(ctx(t), "missing", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	_, err = deps.UpdateScale(ctx(t), "missing", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "missing"}, Spec: autoscalingv1.ScaleSpec{Replicas: 1}}, metav1.UpdateOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	r := e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps/x/scale", "", nil)
	r.wantStatus(t, 404, metav1.StatusReasonNotFound)
	// ReplicaSets and StatefulSets scale the same way.
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: d.Spec.Selector, Template: d.Spec.Template}}
	if _, err := e.c.AppsV1().ReplicaSets(ns).Create(ctx(t), rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rsScale, err := e.c.AppsV1().ReplicaSets(ns).GetScale(ctx(t), "rs", metav1.GetOptions{})
	if err != nil || rsScale.Spec.Replicas != 1 {
		t.Fatalf("replicaset scale %+v %v", rsScale, err)
	}
}

func testBinding(t *testing.T, e *env) {
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx(t), pod(ns, "p"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := func(name, node string) error {
		return pods.Bind(ctx(t), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	}
	if err := bind("p", "node-a"); err != nil {
		t.Fatal(err)
	}
	got, _ := pods.Get(ctx(t), "p", metav1.GetOptions{})
	if got.Spec.NodeName != "node-a" {
		t.Fatalf("nodeName %q after binding", got.Spec.NodeName)
	}
	scheduled := false
	for _, c := range got.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			scheduled = true
		}
	}
	if !scheduled {
		t.Fatalf("no PodScheduled condition: %+v", got.Status.Conditions)
	}
	err := bind("p", "node-b")
	wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	if got, _ := pods.Get(ctx(t), "p", metav1.GetOptions{}); got.Spec.NodeName != "node-a" {
		t.Fatalf("second binding moved the pod to %q", got.Spec.NodeName)
	}
	err = bind("missing", "node-a")
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	if _, err := pods.Create(ctx(t), pod(ns, "q"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = bind("q", "")
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	// The bindings collection does the same (older schedulers use it).
	r := e.do(t, "POST", "/api/v1/namespaces/"+ns+"/bindings", "application/json", []byte(`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"q"},"target":{"kind":"Node","name":"node-c"}}`))
	if r.code != 201 {
		t.Fatalf("POST bindings: %d %s", r.code, r.body)
	}
	if got, _ := pods.Get(ctx(t), "q", metav1.GetOptions{}); got.Spec.NodeName != "node-c" {
		t.Fatalf("bindings left nodeName %q", got.Spec.NodeName)
	}
	// nodeName cannot be changed by an update, only by binding.
	got, _ = pods.Get(ctx(t), "q", metav1.GetOptions{})
	got.Spec.NodeName = "node-z"
	_, err = pods.Update(ctx(t), got, metav1.UpdateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
}

func testEviction(t *testing.T, e *env) {
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	pdbs := e.c.PolicyV1().PodDisruptionBudgets(ns)
	running := func(name string) {
		t.Helper()
		p := pod(ns, name)
		p.Labels = map[string]string{"app": "guarded"}
		p.Spec.NodeName = "node-a"
		created, err := pods.Create(ctx(t), p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Phase = corev1.PodRunning
		if _, err := pods.UpdateStatus(ctx(t), created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	running("p1")
	running("p2")
	_, err := pdbs.Create(ctx(t), podDisruptionBudget(ns, "guarded"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setAllowed := func(n int32) {
		t.Helper()
		cur, err := pdbs.Get(ctx(t), "guarded", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: cur.Generation, DisruptionsAllowed: n, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2}
		if _, err := pdbs.UpdateStatus(ctx(t), cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	evict := func(name string) error {
		return e.c.PolicyV1().Evictions(ns).Evict(ctx(t), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	setAllowed(0)
	err = evict("p1")
	st := wantAPIError(t, err, 429, metav1.StatusReasonTooManyRequests)
	wantCause(t, st, "", metav1.CauseType("DisruptionBudget"))
	if got, err := pods.Get(ctx(t), "p1", metav1.GetOptions{}); err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("refused eviction touched the pod: %v %v", got, err)
	}
	setAllowed(1)
	if err := evict("p1"); err != nil {
		t.Fatalf("allowed eviction: %v", err)
	}
	got, err := pods.Get(ctx(t), "p1", metav1.GetOptions{})
	if err == nil && got.DeletionTimestamp == nil {
		t.Fatal("evicted pod neither gone nor terminating")
	}
	after, _ := pdbs.Get(ctx(t), "guarded", metav1.GetOptions{})
	if after.Status.DisruptionsAllowed != 0 {
		t.Fatalf("disruptionsAllowed %d after an eviction, want 0", after.Status.DisruptionsAllowed)
	}
	if _, ok := after.Status.DisruptedPods["p1"]; !ok {
		t.Fatalf("disruptedPods %v lacks p1", after.Status.DisruptedPods)
	}
	// The budget is used up again.
	err = evict("p2")
	wantAPIError(t, err, 429, metav1.StatusReasonTooManyRequests)
	// A pod no budget covers is evicted freely; a missing one is 404.
	if _, err := pods.Create(ctx(t), pod(ns, "free"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict("free"); err != nil {
		t.Fatalf("evicting an unguarded pod: %v", err)
	}
	_, err = pods.Get(ctx(t), "free", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	err = evict("missing")
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
}

// testEvictionAfterBudgetUpdate: an eviction right after a budget was
// updated to allow it succeeds, even under load (when the watch cache lags).
func testEvictionAfterBudgetUpdate(t *testing.T, e *env) {
	ns := e.namespace(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused []string
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				name := fmt.Sprintf("p-%d-%d", w, i)
				created, err := e.c.CoreV1().Pods(ns).Create(ctx(t), pod(ns, name), metav1.CreateOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				created.Status.Phase = corev1.PodRunning
				if _, err := e.c.CoreV1().Pods(ns).UpdateStatus(ctx(t), created, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
					return
				}
				pdb, err := e.c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx(t), podDisruptionBudget(ns, name), metav1.CreateOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 1}
				if _, err := e.c.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx(t), pdb, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
					return
				}
				if err := e.c.PolicyV1().Evictions(ns).Evict(ctx(t), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}); err != nil {
					mu.Lock()
					refused = append(refused, fmt.Sprintf("%s: %v", name, err))
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	if len(refused) > 0 {
		t.Fatalf("%d evictions refused although their budget allowed them: %v", len(refused), refused)
	}
}

func testNamespaceFinalize(t *testing.T, e *env) {
	nss := e.c.CoreV1().Namespaces()
	ns := e.namespace(t)
	if err := nss.Delete(ctx(t), ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := nss.Get(ctx(t), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The main resource cannot drop spec.finalizers...
	change := got.DeepCopy()
	change.Spec.Finalizers = nil
	if out, err := nss.Update(ctx(t), change, metav1.UpdateOptions{}); err == nil && len(out.Spec.Finalizers) == 0 {
		t.Fatal("namespace update dropped spec.finalizers")
	}
	// ...the finalize subresource can, which ends the namespace.
	if _, err := nss.Finalize(ctx(t), change, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("finalize: %v", err)
	}
	_, err = nss.Get(ctx(t), ns, metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
}

func testUnknownSubresource(t *testing.T, e *env) {
	ns := e.namespace(t)
	if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "cm", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/api/v1/namespaces/" + ns + "/configmaps/cm/status",
		"/api/v1/namespaces/" + ns + "/configmaps/cm/bogus",
		"/api/v1/namespaces/" + ns + "/configmaps/cm/status/extra",
	} {
		r := e.do(t, "GET", path, "", nil)
		r.wantStatus(t, 404, metav1.StatusReasonNotFound)
	}
	// A verb a subresource does not support.
	r := e.do(t, "DELETE", "/apis/apps/v1/namespaces/"+ns+"/deployments/d/scale", "", nil)
	if r.code != 405 && r.code != 404 {
		t.Fatalf("DELETE scale: %d %s", r.code, r.body)
	}
}
