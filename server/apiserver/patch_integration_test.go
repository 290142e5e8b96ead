package apiserver_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1apply "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	metav1apply "k8s.io/client-go/applyconfigurations/meta/v1"
)

func TestIntegrationPatch(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("merge patch", func(t *testing.T) { testMergePatch(t, e) })
	t.Run("json patch", func(t *testing.T) { testJSONPatch(t, e) })
	t.Run("strategic merge patch", func(t *testing.T) { testStrategicPatch(t, e) })
	t.Run("bad patches", func(t *testing.T) { testBadPatches(t, e) })
	t.Run("server-side apply", func(t *testing.T) { testApply(t, e) })
	t.Run("apply conflicts", func(t *testing.T) { testApplyConflicts(t, e) })
}

func testMergePatch(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	before, err := cms.Create(ctx(t), configMap(ns, "cm", map[string]string{"keep": "1", "drop": "2"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cms.Patch(ctx(t), "cm", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":"b"}},"data":{"drop":null,"new":"3"}}`), metav1.PatchOptions{FieldManager: "patcher"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"keep": "1", "new": "3"}
	if !mapsEqual(out.Data, want) || out.Labels["a"] != "b" || rv(t, out.ResourceVersion) <= rv(t, before.ResourceVersion) {
		t.Fatalf("patched to %v labels %v rv %s", out.Data, out.Labels, out.ResourceVersion)
	}
	got, _ := cms.Get(ctx(t), "cm", metav1.GetOptions{})
	if !mapsEqual(got.Data, want) {
		t.Fatalf("stored %v", got.Data)
	}
	if !slices.ContainsFunc(got.ManagedFields, func(m metav1.ManagedFieldsEntry) bool {
		return m.Manager == "patcher" && m.Operation == metav1.ManagedFieldsOperationUpdate
	}) {
		t.Fatalf("managedFields lack the patcher: %+v", got.ManagedFields)
	}
	// A patch with a stale resourceVersion in it conflicts.
	_, err = cms.Patch(ctx(t), "cm", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"`+before.ResourceVersion+`"},"data":{"x":"y"}}`), metav1.PatchOptions{})
	wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	// A patch that changes nothing writes nothing.
	same, err := cms.Patch(ctx(t), "cm", types.MergePatchType, []byte(`{"data":{"keep":"1"}}`), metav1.PatchOptions{FieldManager: "patcher"})
	if err != nil {
		t.Fatal(err)
	}
	if same.ResourceVersion != got.ResourceVersion {
		t.Fatalf("no-op patch moved resourceVersion %s → %s", got.ResourceVersion, same.ResourceVersion)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func testJSONPatch(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(ctx(t), configMap(ns, "cm", map[string]string{"a": "1"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := cms.Patch(ctx(t), "cm", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/a","value":"1"},{"op":"replace","path":"/data/a","value":"2"},{"op":"add","path":"/data/b","value":"3"}]`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(out.Data, map[string]string{"a": "2", "b": "3"}) {
		t.Fatalf("patched to %v", out.Data)
	}
	// A failing test op is 422 and changes nothing.
	_, err = cms.Patch(ctx(t), "cm", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/a","value":"1"},{"op":"replace","path":"/data/a","value":"9"}]`), metav1.PatchOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	// Removing what is not there too.
	_, err = cms.Patch(ctx(t), "cm", types.JSONPatchType, []byte(`[{"op":"remove","path":"/data/zzz"}]`), metav1.PatchOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	got, _ := cms.Get(ctx(t), "cm", metav1.GetOptions{})
	if !mapsEqual(got.Data, map[string]string{"a": "2", "b": "3"}) || got.ResourceVersion != out.ResourceVersion {
		t.Fatalf("failed patches changed the object: %v rv %s", got.Data, got.ResourceVersion)
	}
}

func testStrategicPatch(t *testing.T, e *env) {
	ns := e.namespace(t)
	deps := e.c.AppsV1().Deployments(ns)
	if _, err := deps.Create(ctx(t), deployment(ns, "d", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Containers merge by name: env lands in c, nothing replaced.
	out, err := deps.Patch(ctx(t), "d", types.StrategicMergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"}]},{"name":"side","image":"busybox"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := out.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Name != "c" || cs[0].Image != "busybox" || len(cs[0].Env) != 1 || cs[1].Name != "side" {
		t.Fatalf("containers after strategic merge: %+v", cs)
	}
	if out.Generation != 2 {
		t.Fatalf("generation %d after a template patch, want 2", out.Generation)
	}
	// $patch: delete removes one element by key.
	out, err = deps.Patch(ctx(t), "d", types.StrategicMergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := out.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "c" {
		t.Fatalf("containers after $patch delete: %+v", cs)
	}
	// A merge patch replaces the list wholesale, for contrast.
	out, err = deps.Patch(ctx(t), "d", types.MergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"busybox"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := out.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "only" || len(cs[0].Env) != 0 {
		t.Fatalf("containers after merge patch: %+v", cs)
	}
	// A patch that makes the object invalid is 422.
	_, err = deps.Patch(ctx(t), "d", types.StrategicMergePatchType, []byte(`{"spec":{"replicas":-3}}`), metav1.PatchOptions{})
	st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	wantCause(t, st, "spec.replicas", metav1.CauseTypeFieldValueInvalid)
}

func testBadPatches(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	orig, err := cms.Create(ctx(t), configMap(ns, "cm", map[string]string{"a": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/namespaces/" + ns + "/configmaps/cm"
	cases := []struct {
		name        string
		contentType string
		body        string
		code        int
		reason      metav1.StatusReason
	}{
		{"malformed merge patch", "application/merge-patch+json", `{"data":`, 400, metav1.StatusReasonBadRequest},
		{"malformed json patch", "application/json-patch+json", `[{"op":`, 400, metav1.StatusReasonBadRequest},
		{"json patch not a list", "application/json-patch+json", `{"op":"add"}`, 400, metav1.StatusReasonBadRequest},
		{"malformed strategic patch", "application/strategic-merge-patch+json", `{"data":`, 400, metav1.StatusReasonBadRequest},
		{"wrong type", "application/merge-patch+json", `{"data":{"a":1}}`, 400, metav1.StatusReasonBadRequest},
		{"unsupported content type", "application/json", `{"data":{"a":"2"}}`, 415, metav1.StatusReasonUnsupportedMediaType},
		{"force on a non-apply patch", "application/merge-patch+json?force=true", `{"data":{"a":"2"}}`, 400, metav1.StatusReasonBadRequest},
		{"apply without field manager", "application/apply-patch+yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: '2'\n", 422, metav1.StatusReasonInvalid},
		{"malformed apply", "application/apply-patch+yaml?fieldManager=x", "apiVersion: v1\nkind: ConfigMap\n data: [", 400, metav1.StatusReasonBadRequest},
		{"apply of another kind", "application/apply-patch+yaml?fieldManager=x", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cm\n", 400, metav1.StatusReasonBadRequest},
		{"apply to another name", "application/apply-patch+yaml?fieldManager=x", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n", 400, metav1.StatusReasonBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, query, _ := strings.Cut(c.contentType, "?")
			p := path
			if query != "" {
				p += "?" + query
			}
			r := e.do(t, "PATCH", p, ct, []byte(c.body))
			r.wantStatus(t, c.code, c.reason)
			got, err := cms.Get(ctx(t), "cm", metav1.GetOptions{})
			if err != nil || got.ResourceVersion != orig.ResourceVersion || got.Data["a"] != "1" {
				t.Fatalf("rejected patch changed the object: %v %v", got, err)
			}
		})
	}
	t.Run("missing object", func(t *testing.T) {
		_, err := cms.Patch(ctx(t), "missing", types.MergePatchType, []byte(`{"data":{"a":"1"}}`), metav1.PatchOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		_, err = cms.Get(ctx(t), "missing", metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})
}

func testApply(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	// Apply creates.
	out, err := cms.Apply(ctx(t), corev1apply.ConfigMap("cm", ns).WithData(map[string]string{"a": "1", "b": "2"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("apply create: %v", err)
	}
	if out.UID == "" || out.Data["a"] != "1" {
		t.Fatalf("apply created %+v", out)
	}
	if len(out.ManagedFields) != 1 || out.ManagedFields[0].Manager != "alice" || out.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managedFields %+v", out.ManagedFields)
	}
	if !strings.Contains(out.ManagedFields[0].FieldsV1.GetRawString(), `"f:a"`) {
		t.Fatalf("alice's fields %s lack data.a", out.ManagedFields[0].FieldsV1.GetRawString())
	}
	// Re-applying without b removes b (alice owned it alone).
	out, err = cms.Apply(ctx(t), corev1apply.ConfigMap("cm", ns).WithData(map[string]string{"a": "1"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(out.Data, map[string]string{"a": "1"}) {
		t.Fatalf("after dropping b from the apply: %v", out.Data)
	}
	// The same apply again is a no-op.
	again, err := cms.Apply(ctx(t), corev1apply.ConfigMap("cm", ns).WithData(map[string]string{"a": "1"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != out.ResourceVersion {
		t.Fatalf("identical apply moved resourceVersion %s → %s", out.ResourceVersion, again.ResourceVersion)
	}
	// A plain update by someone else shows up as a second manager.
	upd := out.DeepCopy()
	upd.Data["c"] = "3"
	if _, err := cms.Update(ctx(t), upd, metav1.UpdateOptions{FieldManager: "bob"}); err != nil {
		t.Fatal(err)
	}
	got, _ := cms.Get(ctx(t), "cm", metav1.GetOptions{})
	var managers []string
	for _, m := range got.ManagedFields {
		managers = append(managers, m.Manager+"/"+string(m.Operation))
	}
	slices.Sort(managers)
	if !slices.Equal(managers, []string{"alice/Apply", "bob/Update"}) {
		t.Fatalf("managers %v", managers)
	}
	// Apply of a Deployment, then a second apply changing replicas only.
	deps := e.c.AppsV1().Deployments(ns)
	labels := map[string]string{"app": "web"}
	dep := appsv1apply.Deployment("web", ns).WithSpec(appsv1apply.DeploymentSpec().
		WithReplicas(2).
		WithSelector(metav1apply.LabelSelector().WithMatchLabels(labels)).
		WithTemplate(corev1apply.PodTemplateSpec().WithLabels(labels).
			WithSpec(corev1apply.PodSpec().WithContainers(corev1apply.Container().WithName("c").WithImage("busybox")))))
	d, err := deps.Apply(ctx(t), dep, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("apply deployment: %v", err)
	}
	if *d.Spec.Replicas != 2 || d.Spec.Template.Spec.Containers[0].TerminationMessagePath != corev1.TerminationMessagePathDefault {
		t.Fatalf("applied deployment not defaulted: %+v", d.Spec)
	}
	dep.Spec.WithReplicas(4)
	d, err = deps.Apply(ctx(t), dep, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 4 || d.Generation != 2 {
		t.Fatalf("replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	// An invalid apply is 422 and changes nothing.
	bad := appsv1apply.Deployment("web", ns).WithSpec(appsv1apply.DeploymentSpec().WithReplicas(-1))
	_, err = deps.Apply(ctx(t), bad, metav1.ApplyOptions{FieldManager: "alice", Force: true})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	if cur, _ := deps.Get(ctx(t), "web", metav1.GetOptions{}); *cur.Spec.Replicas != 4 {
		t.Fatalf("invalid apply changed replicas to %d", *cur.Spec.Replicas)
	}
	// Apply dry run creates nothing.
	_, err = cms.Apply(ctx(t), corev1apply.ConfigMap("dry", ns).WithData(map[string]string{"a": "1"}), metav1.ApplyOptions{FieldManager: "alice", DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cms.Get(ctx(t), "dry", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
}

func testApplyConflicts(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	if _, err := cms.Apply(ctx(t), corev1apply.ConfigMap("cm", ns).WithData(map[string]string{"k": "alice"}), metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err := cms.Apply(ctx(t), corev1apply.ConfigMap("cm", ns).WithData(map[string]string{"k": "bob"}), metav1.ApplyOptions{FieldManager: "bob"})
	st := wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	wantCause(t, st, ".data.k", metav1.CauseTypeFieldManagerConflict)
	if !strings.Contains(st.Message, `conflict with "alice"`) {
		t.Fatalf("conflict message %q", st.Message)
	}
	got, _ := cms.Get(ctx(t), "cm", metav1.GetOptions{})
	if got.Data["k"] != "alice" {
		t.Fatalf("conflicting apply changed the object: %v", got.Data)
	}
	// Agreeing on the value is no conflict: both own it.
	if _, err := cms.Apply(ctx(t), corev1apply.ConfigMap("cm", ns).WithData(map[string]string{"k": "alice"}), metav1.ApplyOptions{FieldManager: "carol"}); err != nil {
		t.Fatalf("shared apply: %v", err)
	}
	// force takes the field over.
	out, err := cms.Apply(ctx(t), corev1apply.ConfigMap("cm", ns).WithData(map[string]string{"k": "bob"}), metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if out.Data["k"] != "bob" {
		t.Fatalf("forced apply left %v", out.Data)
	}
	for _, m := range out.ManagedFields {
		if m.Manager != "bob" && strings.Contains(m.FieldsV1.GetRawString(), `"f:k"`) {
			t.Fatalf("%s still owns data.k after a forced apply: %+v", m.Manager, out.ManagedFields)
		}
	}
}
