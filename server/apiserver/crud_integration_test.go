package apiserver_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"kite/server/servertest"
)

func TestIntegrationCRUD(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("kinds", func(t *testing.T) { testCRUDKinds(t, e) })
	t.Run("events are one object in two groups", func(t *testing.T) { testEventsBothGroups(t, e) })
	t.Run("resourceVersion is the etcd revision", func(t *testing.T) { testResourceVersionIsRevision(t, e) })
	t.Run("stale resourceVersion conflicts", func(t *testing.T) { testStaleUpdate(t, e) })
	t.Run("unconditional update", func(t *testing.T) { testUnconditionalUpdate(t, e) })
	t.Run("generation", func(t *testing.T) { testGeneration(t, e) })
	t.Run("create existing", func(t *testing.T) { testCreateExisting(t, e) })
	t.Run("dry run", func(t *testing.T) { testDryRun(t, e) })
	t.Run("namespace lifecycle", func(t *testing.T) { testNamespaceLifecycle(t, e) })
	t.Run("no create slips into a deleted namespace", func(t *testing.T) { testNamespaceDeleteRace(t, e) })
}

// testCRUDKinds runs create, get, update, list and delete through the
// dynamic client over kinds of every scope and several groups, checking
// resourceVersions advance like etcd revisions and uid/creationTimestamp
// are set and kept.
func testCRUDKinds(t *testing.T, e *env) {
	ns := e.namespace(t)
	dyn, err := dynamic.NewForConfig(e.s.Config)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		gvr        schema.GroupVersionResource
		namespaced bool
		obj        map[string]any
		// mutate changes the object for the update; check reads the change back.
		path  []string
		value any
	}{
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true,
			map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "v"}},
			[]string{"data", "k"}, "v2"},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, true,
			map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": map[string]any{"k": "v"}},
			[]string{"data", "k"}, "djI="},
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true,
			map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "spec": map[string]any{
				"replicas": int64(1),
				"selector": map[string]any{"matchLabels": map[string]any{"app": "x"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "x"}},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox"}}}}}},
			[]string{"spec", "replicas"}, int64(3)},
		{schema.GroupVersionResource{Version: "v1", Resource: "services"}, true,
			map[string]any{"apiVersion": "v1", "kind": "Service", "spec": map[string]any{
				"selector": map[string]any{"app": "x"}, "ports": []any{map[string]any{"port": int64(80)}}}},
			[]string{"spec", "sessionAffinity"}, "ClientIP"},
		{schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false,
			map[string]any{"apiVersion": "v1", "kind": "Namespace"},
			[]string{"metadata", "labels", "team"}, "a"},
		{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false,
			map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "rules": []any{
				map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}}}},
			[]string{"metadata", "annotations", "note"}, "x"},
		{schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}, true,
			map[string]any{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": map[string]any{"holderIdentity": "a"}},
			[]string{"spec", "holderIdentity"}, "b"},
		{schema.GroupVersionResource{Version: "v1", Resource: "events"}, true,
			map[string]any{"apiVersion": "v1", "kind": "Event", "message": "m", "reason": "R", "type": "Normal",
				"involvedObject": map[string]any{"kind": "Pod", "name": "p", "namespace": ns}},
			[]string{"message"}, "m2"},
	}
	for _, c := range cases {
		t.Run(c.gvr.Resource, func(t *testing.T) {
			name := "crud-" + strings.TrimSuffix(c.gvr.Resource, "s")
			var ri dynamic.ResourceInterface = dyn.Resource(c.gvr)
			if c.namespaced {
				ri = dyn.Resource(c.gvr).Namespace(ns)
			}
			before, err := e.c.CoreV1().Namespaces().List(ctx(t), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			obj := &unstructured.Unstructured{Object: deepCopyMap(c.obj)}
			obj.SetName(name)
			created, err := ri.Create(ctx(t), obj, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.GetUID() == "" || created.GetCreationTimestamp().Time.IsZero() {
				t.Fatalf("create did not set uid and creationTimestamp: %v", created.Object["metadata"])
			}
			if c.namespaced && created.GetNamespace() != ns {
				t.Fatalf("namespace = %q, want %q", created.GetNamespace(), ns)
			}
			if !c.namespaced && created.GetNamespace() != "" {
				t.Fatalf("cluster-scoped object got namespace %q", created.GetNamespace())
			}
			createdRV := rv(t, created.GetResourceVersion())
			if createdRV <= rv(t, before.ResourceVersion) {
				t.Fatalf("created resourceVersion %d is not after the earlier list's %s", createdRV, before.ResourceVersion)
			}

			got, err := ri.Get(ctx(t), name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if got.GetResourceVersion() != created.GetResourceVersion() || got.GetUID() != created.GetUID() {
				t.Fatalf("get returned rv=%s uid=%s, create returned rv=%s uid=%s", got.GetResourceVersion(), got.GetUID(), created.GetResourceVersion(), created.GetUID())
			}

			if err := unstructured.SetNestedField(got.Object, c.value, c.path...); err != nil {
				t.Fatal(err)
			}
			updated, err := ri.Update(ctx(t), got, metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if rv(t, updated.GetResourceVersion()) <= createdRV {
				t.Fatalf("update resourceVersion %s is not after %d", updated.GetResourceVersion(), createdRV)
			}
			if updated.GetUID() != created.GetUID() || !updated.GetCreationTimestamp().Time.Equal(created.GetCreationTimestamp().Time) {
				t.Fatalf("update changed uid or creationTimestamp")
			}
			reread, err := ri.Get(ctx(t), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v, _, _ := unstructured.NestedFieldNoCopy(reread.Object, c.path...); v != c.value {
				t.Fatalf("after update %v = %v, want %v", c.path, v, c.value)
			}
			if reread.GetResourceVersion() != updated.GetResourceVersion() {
				t.Fatalf("get after update rv=%s, update returned %s", reread.GetResourceVersion(), updated.GetResourceVersion())
			}

			list, err := ri.List(ctx(t), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if rv(t, list.GetResourceVersion()) < rv(t, updated.GetResourceVersion()) {
				t.Fatalf("list resourceVersion %s is older than the update's %s", list.GetResourceVersion(), updated.GetResourceVersion())
			}
			found := false
			for _, item := range list.Items {
				if item.GetName() == name {
					found = item.GetResourceVersion() == updated.GetResourceVersion()
				}
			}
			if !found {
				t.Fatalf("list does not hold %s at rv %s", name, updated.GetResourceVersion())
			}
			if list.GetKind() != created.GetKind()+"List" {
				t.Fatalf("list kind %q", list.GetKind())
			}

			if err := ri.Delete(ctx(t), name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if c.gvr.Resource == "namespaces" {
				// Namespaces are emptied by the namespace controller before
				// they go; without one they stay terminating.
				ns, err := ri.Get(ctx(t), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if ns.GetDeletionTimestamp() == nil {
					t.Fatal("deleted namespace has no deletionTimestamp")
				}
				return
			}
			_, err = ri.Get(ctx(t), name, metav1.GetOptions{})
			st := wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
			if st.Details == nil || st.Details.Name != name || st.Details.Kind != c.gvr.Resource || st.Details.Group != c.gvr.Group {
				t.Fatalf("NotFound details = %+v, want name %s kind %s group %q", st.Details, name, c.gvr.Resource, c.gvr.Group)
			}
			err = ri.Delete(ctx(t), name, metav1.DeleteOptions{})
			wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		})
	}
}

func deepCopyMap(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}

// testEventsBothGroups checks core/v1 and events.k8s.io/v1 Events are the
// same stored objects, each written through one and read through the other.
func testEventsBothGroups(t *testing.T, e *env) {
	ns := e.namespace(t)
	now := metav1.NowMicro()
	core := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "core-ev", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns},
		Reason:         "Started", Message: "started container", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "kubelet"},
	}
	createdCore, err := e.c.CoreV1().Events(ns).Create(ctx(t), core, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	asNew, err := e.c.EventsV1().Events(ns).Get(ctx(t), "core-ev", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("core/v1 event not readable as events.k8s.io/v1: %v", err)
	}
	if asNew.UID != createdCore.UID || asNew.ResourceVersion != createdCore.ResourceVersion || asNew.Note != "started container" || asNew.Regarding.Name != "p" || asNew.Reason != "Started" {
		t.Fatalf("events.k8s.io/v1 view = %+v", asNew)
	}

	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "new-ev", Namespace: ns},
		EventTime:  now, ReportingController: "kite.io/test", ReportingInstance: "test-1",
		Action: "Bind", Reason: "Scheduled", Note: "assigned", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", Name: "q", Namespace: ns},
	}
	createdNew, err := e.c.EventsV1().Events(ns).Create(ctx(t), ev, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	asCore, err := e.c.CoreV1().Events(ns).Get(ctx(t), "new-ev", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("events.k8s.io/v1 event not readable as core/v1: %v", err)
	}
	if asCore.UID != createdNew.UID || asCore.Message != "assigned" || asCore.InvolvedObject.Name != "q" || asCore.ReportingController != "kite.io/test" {
		t.Fatalf("core/v1 view = %+v", asCore)
	}

	coreList, err := e.c.CoreV1().Events(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newList, err := e.c.EventsV1().Events(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(coreList.Items) != 2 || len(newList.Items) != 2 {
		t.Fatalf("core list has %d events, events.k8s.io list %d; want 2 each", len(coreList.Items), len(newList.Items))
	}
	// A delete through one group is seen through the other.
	if err := e.c.EventsV1().Events(ns).Delete(ctx(t), "core-ev", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.CoreV1().Events(ns).Get(ctx(t), "core-ev", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
}

// testResourceVersionIsRevision: an object's resourceVersion is the mod
// revision of its etcd key, stored under kube-apiserver's key layout as
// protobuf.
func testResourceVersionIsRevision(t *testing.T, e *env) {
	ns := e.namespace(t)
	cm, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "cm", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.c.AppsV1().Deployments(ns).Create(ctx(t), deployment(ns, "d", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	etcd := e.s.EtcdClient(t)
	for key, want := range map[string]string{
		"/registry/configmaps/" + ns + "/cm": cm.ResourceVersion,
		"/registry/deployments/" + ns + "/d": d.ResourceVersion,
	} {
		resp, err := etcd.Get(ctx(t), key)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 {
			t.Fatalf("%s not in etcd", key)
		}
		kv := resp.Kvs[0]
		if fmt.Sprint(kv.ModRevision) != want {
			t.Fatalf("%s: etcd mod revision %d, resourceVersion %s", key, kv.ModRevision, want)
		}
		if !strings.HasPrefix(string(kv.Value), "k8s\x00") {
			t.Fatalf("%s is not stored as protobuf: %q", key, kv.Value[:min(len(kv.Value), 20)])
		}
	}
	etcd.Close()
}

// testStaleUpdate: an update carrying an old resourceVersion is a 409
// Conflict and leaves the stored object alone.
func testStaleUpdate(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	first, err := cms.Create(ctx(t), configMap(ns, "cm", map[string]string{"k": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second := first.DeepCopy()
	second.Data["k"] = "2"
	second, err = cms.Update(ctx(t), second, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := first.DeepCopy()
	stale.Data["k"] = "stale"
	_, err = cms.Update(ctx(t), stale, metav1.UpdateOptions{})
	st := wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	if st.Details == nil || st.Details.Name != "cm" || st.Details.Kind != "configmaps" {
		t.Fatalf("conflict details = %+v", st.Details)
	}
	if !strings.Contains(st.Message, "the object has been modified; please apply your changes to the latest version and try again") {
		t.Fatalf("conflict message = %q", st.Message)
	}
	got, err := cms.Get(ctx(t), "cm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["k"] != "2" || got.ResourceVersion != second.ResourceVersion {
		t.Fatalf("after rejected update: data=%v rv=%s, want k=2 rv=%s", got.Data, got.ResourceVersion, second.ResourceVersion)
	}
	// A resourceVersion from the future conflicts too.
	future := got.DeepCopy()
	future.ResourceVersion = "999999999"
	_, err = cms.Update(ctx(t), future, metav1.UpdateOptions{})
	wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	// Updating something that does not exist is 404 for kinds that do not
	// create on update.
	missing := configMap(ns, "missing", nil)
	missing.ResourceVersion = "1"
	_, err = cms.Update(ctx(t), missing, metav1.UpdateOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	// Deployments refuse a stale update the same way.
	deps := e.c.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx(t), deployment(ns, "d", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d2 := d.DeepCopy()
	d2.Spec.Replicas = ptr.To[int32](2)
	if _, err := deps.Update(ctx(t), d2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas = ptr.To[int32](5)
	_, err = deps.Update(ctx(t), d, metav1.UpdateOptions{})
	wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	if got, _ := deps.Get(ctx(t), "d", metav1.GetOptions{}); *got.Spec.Replicas != 2 {
		t.Fatalf("replicas = %d after a rejected update, want 2", *got.Spec.Replicas)
	}
}

// testUnconditionalUpdate: kinds that allow it accept an update without a
// resourceVersion; PodDisruptionBudgets do not (422 on metadata.resourceVersion).
func testUnconditionalUpdate(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	created, err := cms.Create(ctx(t), configMap(ns, "cm", map[string]string{"k": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blind := configMap(ns, "cm", map[string]string{"k": "blind"})
	out, err := cms.Update(ctx(t), blind, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("unconditional update: %v", err)
	}
	if out.Data["k"] != "blind" || rv(t, out.ResourceVersion) <= rv(t, created.ResourceVersion) || out.UID != created.UID {
		t.Fatalf("unconditional update returned %+v", out)
	}

	pdbs := e.c.PolicyV1().PodDisruptionBudgets(ns)
	pdb := podDisruptionBudget(ns, "pdb")
	if _, err := pdbs.Create(ctx(t), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb = podDisruptionBudget(ns, "pdb")
	pdb.Spec.MinAvailable.IntVal = 5
	_, err = pdbs.Update(ctx(t), pdb, metav1.UpdateOptions{})
	st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	wantCause(t, st, "metadata.resourceVersion", metav1.CauseTypeFieldValueRequired)
	if got, _ := pdbs.Get(ctx(t), "pdb", metav1.GetOptions{}); got.Spec.MinAvailable.IntVal != 1 {
		t.Fatalf("minAvailable = %v after a rejected update", got.Spec.MinAvailable)
	}
}

// testGeneration: metadata.generation counts spec changes only.
func testGeneration(t *testing.T, e *env) {
	ns := e.namespace(t)
	deps := e.c.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx(t), deployment(ns, "d", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("generation after create = %d, want 1", d.Generation)
	}
	steps := []struct {
		name   string
		change func(*appsv1.Deployment)
		want   int64
	}{
		{"labels", func(d *appsv1.Deployment) { d.Labels = map[string]string{"a": "b"} }, 1},
		{"finalizers", func(d *appsv1.Deployment) { d.Finalizers = []string{"kite.io/test"} }, 1},
		{"replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](4) }, 2},
		{"status is ignored", func(d *appsv1.Deployment) { d.Status.Replicas = 9 }, 2},
		{"template", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" }, 3},
		// Deployments (only) count annotation changes too, since they are
		// copied to ReplicaSets.
		{"annotations", func(d *appsv1.Deployment) { d.Annotations = map[string]string{"a": "b"} }, 4},
		{"no change", func(*appsv1.Deployment) {}, 4},
		{"finalizers removed", func(d *appsv1.Deployment) { d.Finalizers = nil }, 4},
	}
	for _, s := range steps {
		s.change(d)
		before := d.ResourceVersion
		if d, err = deps.Update(ctx(t), d, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d.Generation != s.want {
			t.Fatalf("%s: generation = %d, want %d", s.name, d.Generation, s.want)
		}
		if s.name == "no change" && d.ResourceVersion != before {
			t.Fatalf("a no-op update wrote a new resourceVersion %s (was %s)", d.ResourceVersion, before)
		}
	}
	if d.Status.Replicas != 0 {
		t.Fatalf("main resource update changed status.replicas to %d", d.Status.Replicas)
	}
}

func testCreateExisting(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	first, err := cms.Create(ctx(t), configMap(ns, "cm", map[string]string{"k": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cms.Create(ctx(t), configMap(ns, "cm", map[string]string{"k": "2"}), metav1.CreateOptions{})
	st := wantAPIError(t, err, 409, metav1.StatusReasonAlreadyExists)
	if st.Details == nil || st.Details.Name != "cm" || st.Details.Kind != "configmaps" {
		t.Fatalf("AlreadyExists details = %+v", st.Details)
	}
	got, _ := cms.Get(ctx(t), "cm", metav1.GetOptions{})
	if got.Data["k"] != "1" || got.ResourceVersion != first.ResourceVersion {
		t.Fatalf("stored object changed: %+v", got)
	}
	// generateName picks a fresh name with the prefix.
	gen, err := cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(gen.Name, "gen-") || len(gen.Name) != len("gen-")+5 {
		t.Fatalf("generated name %q", gen.Name)
	}
	// A resourceVersion on create is refused as upstream does.
	withRV := configMap(ns, "with-rv", nil)
	withRV.ResourceVersion = "5"
	_, err = cms.Create(ctx(t), withRV, metav1.CreateOptions{})
	wantAPIError(t, err, 500, metav1.StatusReasonInternalError)
}

// testDryRun: dryRun=All answers like the real thing and stores nothing.
func testDryRun(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	dry := []string{metav1.DryRunAll}

	out, err := cms.Create(ctx(t), configMap(ns, "dry", map[string]string{"k": "v"}), metav1.CreateOptions{DryRun: dry})
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if out.Name != "dry" || out.UID == "" || out.CreationTimestamp.IsZero() || out.Data["k"] != "v" || len(out.ManagedFields) == 0 {
		t.Fatalf("dry-run create returned %+v", out)
	}
	_, err = cms.Get(ctx(t), "dry", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)

	real, err := cms.Create(ctx(t), configMap(ns, "real", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A dry-run create of an existing name fails as the real one would.
	_, err = cms.Create(ctx(t), configMap(ns, "real", nil), metav1.CreateOptions{DryRun: dry})
	wantAPIError(t, err, 409, metav1.StatusReasonAlreadyExists)
	// Dry-run validation errors are real.
	_, err = cms.Create(ctx(t), configMap(ns, "Bad_Name", nil), metav1.CreateOptions{DryRun: dry})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)

	changed := real.DeepCopy()
	changed.Data["k"] = "changed"
	out, err = cms.Update(ctx(t), changed, metav1.UpdateOptions{DryRun: dry})
	if err != nil {
		t.Fatalf("dry-run update: %v", err)
	}
	if out.Data["k"] != "changed" {
		t.Fatalf("dry-run update returned %v", out.Data)
	}
	out, err = cms.Patch(ctx(t), "real", "application/merge-patch+json", []byte(`{"data":{"p":"x"}}`), metav1.PatchOptions{DryRun: dry})
	if err != nil {
		t.Fatalf("dry-run patch: %v", err)
	}
	if out.Data["p"] != "x" {
		t.Fatalf("dry-run patch returned %v", out.Data)
	}
	if err := cms.Delete(ctx(t), "real", metav1.DeleteOptions{DryRun: dry}); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	got, err := cms.Get(ctx(t), "real", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("object gone after dry-run delete: %v", err)
	}
	if got.ResourceVersion != real.ResourceVersion || !apiequality.Semantic.DeepEqual(got.Data, real.Data) {
		t.Fatalf("storage changed by dry runs: rv %s→%s data %v", real.ResourceVersion, got.ResourceVersion, got.Data)
	}
	// Unknown dryRun values are refused.
	r := e.do(t, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/real?dryRun=Some", "", nil)
	r.wantStatus(t, 400, metav1.StatusReasonBadRequest)
	if _, err := cms.Get(ctx(t), "real", metav1.GetOptions{}); err != nil {
		t.Fatalf("object gone after a refused dry run: %v", err)
	}
}

func testNamespaceLifecycle(t *testing.T, e *env) {
	nss := e.c.CoreV1().Namespaces()
	// Creating in a namespace that does not exist.
	_, err := e.c.CoreV1().ConfigMaps("no-such-ns").Create(ctx(t), configMap("no-such-ns", "cm", nil), metav1.CreateOptions{})
	st := wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	if st.Details == nil || st.Details.Kind != "namespaces" || st.Details.Name != "no-such-ns" {
		t.Fatalf("NotFound details = %+v, want the namespace", st.Details)
	}

	// A deleted namespace is Terminating while spec.finalizers hold it.
	ns := e.namespace(t)
	if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "before", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nss.Delete(ctx(t), ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Right after the delete: no window where creates still get in.
	_, err = e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "after", nil), metav1.CreateOptions{})
	st = wantAPIError(t, err, 403, metav1.StatusReasonForbidden)
	if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		t.Fatalf("Forbidden lacks the %s cause controllers look for: %+v", corev1.NamespaceTerminatingCause, st.Details)
	}
	got, err := nss.Get(ctx(t), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.DeletionTimestamp == nil || got.Status.Phase != corev1.NamespaceTerminating || len(got.Spec.Finalizers) == 0 {
		t.Fatalf("deleted namespace: deletionTimestamp=%v phase=%s finalizers=%v", got.DeletionTimestamp, got.Status.Phase, got.Spec.Finalizers)
	}
	if !strings.Contains(st.Message, "unable to create new content in namespace "+ns+" because it is being terminated") {
		t.Fatalf("message = %q", st.Message)
	}
	wantCause(t, st, "metadata.namespace", corev1.NamespaceTerminatingCause)
	_, err = e.c.CoreV1().ConfigMaps(ns).Get(ctx(t), "after", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	// Existing content can still be changed and removed.
	if _, err := e.c.CoreV1().ConfigMaps(ns).Update(ctx(t), configMap(ns, "before", map[string]string{"a": "b"}), metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update in a terminating namespace: %v", err)
	}
	if err := e.c.CoreV1().ConfigMaps(ns).Delete(ctx(t), "before", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete in a terminating namespace: %v", err)
	}

	// The system namespaces cannot be deleted.
	for _, name := range []string{"default", "kube-system", "kube-public"} {
		err := nss.Delete(ctx(t), name, metav1.DeleteOptions{})
		st := wantAPIError(t, err, 403, metav1.StatusReasonForbidden)
		if !strings.Contains(st.Message, "this namespace may not be deleted") {
			t.Fatalf("%s: message %q", name, st.Message)
		}
		got, err := nss.Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.DeletionTimestamp != nil || got.Status.Phase != corev1.NamespaceActive {
			t.Fatalf("%s: deletionTimestamp=%v phase=%s after a refused delete", name, got.DeletionTimestamp, got.Status.Phase)
		}
	}
}

// testNamespaceDeleteRace: once a namespace delete has been answered, no
// create gets into it, even when the watch cache has not caught up yet
// (under load it lags by a little).
func testNamespaceDeleteRace(t *testing.T, e *env) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slipped []string
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				name := fmt.Sprintf("race-%d-%d", w, i)
				if _, err := e.c.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
					t.Error(err)
					return
				}
				if err := e.c.CoreV1().Namespaces().Delete(ctx(t), name, metav1.DeleteOptions{}); err != nil {
					t.Error(err)
					return
				}
				_, err := e.c.CoreV1().ConfigMaps(name).Create(ctx(t), configMap(name, "x", nil), metav1.CreateOptions{})
				if err == nil {
					mu.Lock()
					slipped = append(slipped, name)
					mu.Unlock()
				} else if !apierrors.IsForbidden(err) {
					t.Errorf("create in deleted namespace %s: %v", name, err)
				}
			}
		}(w)
	}
	wg.Wait()
	if len(slipped) > 0 {
		t.Fatalf("creates got into %d deleted namespaces: %v", len(slipped), slipped)
	}
}

// TestIntegrationRestart stops a server and starts another on the same data
// directory: everything is still there, unchanged.
func TestIntegrationRestart(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	c := s.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restart"}}
	if _, err := c.CoreV1().Namespaces().Create(ctx(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	type ref struct{ kind, name, uid, rv string }
	var want []ref
	cm, err := c.CoreV1().ConfigMaps("restart").Create(ctx(t), configMap("restart", "cm", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, ref{"ConfigMap", cm.Name, string(cm.UID), cm.ResourceVersion})
	d, err := c.AppsV1().Deployments("restart").Create(ctx(t), deployment("restart", "d", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, ref{"Deployment", d.Name, string(d.UID), d.ResourceVersion})
	svc, err := c.CoreV1().Services("restart").Create(ctx(t), service("restart", "svc"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, ref{"Service", svc.Name, string(svc.UID), svc.ResourceVersion})
	sec, err := c.CoreV1().Secrets("restart").Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"p": "w"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, ref{"Secret", sec.Name, string(sec.UID), sec.ResourceVersion})
	nsObj, err := c.CoreV1().Namespaces().Get(ctx(t), "restart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, ref{"Namespace", nsObj.Name, string(nsObj.UID), nsObj.ResourceVersion})
	cr, err := c.RbacV1().ClusterRoles().Get(ctx(t), "cluster-admin", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("bootstrap ClusterRole: %v", err)
	}
	want = append(want, ref{"ClusterRole", cr.Name, string(cr.UID), cr.ResourceVersion})

	// Compact etcd: the revisions above are history now.
	oldRV := cm.ResourceVersion
	compact(t, envFor(t, s))

	s.Stop()
	s2, err := servertest.StartIn(s.DataDir)
	if err != nil {
		t.Fatalf("restarting: %v", err)
	}
	t.Cleanup(s2.Stop)
	c = s2.Client

	var got []ref
	if o, err := c.CoreV1().ConfigMaps("restart").Get(ctx(t), "cm", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else {
		got = append(got, ref{"ConfigMap", o.Name, string(o.UID), o.ResourceVersion})
		if o.Data["k"] != "v" {
			t.Fatalf("ConfigMap data after restart: %v", o.Data)
		}
	}
	if o, err := c.AppsV1().Deployments("restart").Get(ctx(t), "d", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else {
		got = append(got, ref{"Deployment", o.Name, string(o.UID), o.ResourceVersion})
	}
	var svc2 *corev1.Service
	if svc2, err = c.CoreV1().Services("restart").Get(ctx(t), "svc", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else {
		got = append(got, ref{"Service", svc2.Name, string(svc2.UID), svc2.ResourceVersion})
	}
	if o, err := c.CoreV1().Secrets("restart").Get(ctx(t), "s", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else {
		got = append(got, ref{"Secret", o.Name, string(o.UID), o.ResourceVersion})
		if string(o.Data["p"]) != "w" {
			t.Fatalf("Secret data after restart: %v", o.Data)
		}
	}
	if o, err := c.CoreV1().Namespaces().Get(ctx(t), "restart", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else {
		got = append(got, ref{"Namespace", o.Name, string(o.UID), o.ResourceVersion})
	}
	if o, err := c.RbacV1().ClusterRoles().Get(ctx(t), "cluster-admin", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else {
		got = append(got, ref{"ClusterRole", o.Name, string(o.UID), o.ResourceVersion})
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after restart %+v, before %+v", got[i], want[i])
		}
	}
	// The list served from the rebuilt watch cache has them too.
	list, err := c.CoreV1().ConfigMaps("restart").List(ctx(t), metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].ResourceVersion != cm.ResourceVersion {
		t.Fatalf("cached list after restart: %+v", list.Items)
	}
	// The allocation of the Service's cluster IP survived too.
	dup := service("restart", "dup")
	dup.Spec.ClusterIP = svc2.Spec.ClusterIP
	_, err = c.CoreV1().Services("restart").Create(ctx(t), dup, metav1.CreateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	// Watches from before the restart (and the compaction) are 410 Gone:
	// the new watch cache's history starts at the restart.
	wantWatchGone(t, envFor(t, s2), "restart", oldRV)
	// And the server keeps counting revisions from where it was.
	next, err := c.CoreV1().ConfigMaps("restart").Create(ctx(t), configMap("restart", "next", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rv(t, next.ResourceVersion) <= rv(t, cm.ResourceVersion) {
		t.Fatalf("resourceVersion after restart %s is not after %s", next.ResourceVersion, cm.ResourceVersion)
	}
}

func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func service(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
}
