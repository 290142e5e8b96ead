package apiserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIntegrationList(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("label selectors", func(t *testing.T) { testLabelSelectors(t, e) })
	t.Run("field selectors", func(t *testing.T) { testFieldSelectors(t, e) })
	t.Run("paging", func(t *testing.T) { testPaging(t, e) })
	t.Run("paging with selector", func(t *testing.T) { testPagingWithSelector(t, e) })
	t.Run("resourceVersion semantics", func(t *testing.T) { testListResourceVersions(t, e) })
	t.Run("resourceVersion too large", func(t *testing.T) { testListTooLarge(t, e) })
	// Last: compacts etcd, which ends older revisions for everything.
	t.Run("compacted", func(t *testing.T) { testListCompacted(t, e) })
}

func names[T any](items []T, name func(*T) string) []string {
	out := []string{}
	for i := range items {
		out = append(out, name(&items[i]))
	}
	slices.Sort(out)
	return out
}

func cmNames(l *corev1.ConfigMapList) []string {
	return names(l.Items, func(c *corev1.ConfigMap) string { return c.Name })
}

func testLabelSelectors(t *testing.T, e *env) {
	ns := e.namespace(t)
	objs := map[string]map[string]string{
		"a": {"env": "prod", "tier": "web"},
		"b": {"env": "dev", "tier": "web"},
		"c": {"env": "prod"},
		"d": nil,
	}
	for name, labels := range objs {
		cm := configMap(ns, name, nil)
		cm.Labels = labels
		if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		selector string
		want     []string
	}{
		{"", []string{"a", "b", "c", "d"}},
		{"env=prod", []string{"a", "c"}},
		{"env==prod", []string{"a", "c"}},
		{"env!=prod", []string{"b", "d"}},
		{"env in (prod,dev)", []string{"a", "b", "c"}},
		{"env notin (prod)", []string{"b", "d"}},
		{"tier", []string{"a", "b"}},
		{"!tier", []string{"c", "d"}},
		{"env=prod,tier=web", []string{"a"}},
		{"env=staging", []string{}},
	}
	for _, c := range cases {
		t.Run(c.selector, func(t *testing.T) {
			for _, rv := range []string{"", "0"} { // from etcd-consistent and cached reads
				l, err := e.c.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{LabelSelector: c.selector, ResourceVersion: rv})
				if err != nil {
					t.Fatal(err)
				}
				if got := cmNames(l); !slices.Equal(got, c.want) {
					t.Fatalf("rv=%q selector %q: got %v, want %v", rv, c.selector, got, c.want)
				}
			}
			// Paged (read from etcd) the same.
			l, err := e.c.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{LabelSelector: c.selector, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if got := cmNames(l); !slices.Equal(got, c.want) {
				t.Fatalf("paged selector %q: got %v, want %v", c.selector, got, c.want)
			}
		})
	}
	t.Run("across namespaces", func(t *testing.T) {
		other := e.namespace(t)
		cm := configMap(other, "e", nil)
		cm.Labels = map[string]string{"env": "prod", "owner": ns}
		if _, err := e.c.CoreV1().ConfigMaps(other).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		l, err := e.c.CoreV1().ConfigMaps("").List(ctx(t), metav1.ListOptions{LabelSelector: "env=prod", FieldSelector: "metadata.namespace in (" + ns + "," + other + ")"})
		if err == nil {
			t.Fatalf("set-based field selector accepted: %v", cmNames(l))
		}
		l, err = e.c.CoreV1().ConfigMaps("").List(ctx(t), metav1.ListOptions{LabelSelector: "env=prod"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range l.Items {
			if c.Namespace == ns || c.Namespace == other {
				got = append(got, c.Namespace+"/"+c.Name)
			}
		}
		slices.Sort(got)
		want := []string{ns + "/a", ns + "/c", other + "/e"}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("all-namespace list: %v, want %v", got, want)
		}
	})
	t.Run("invalid selector", func(t *testing.T) {
		_, err := e.c.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "env in (prod"})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
	})
}

func testFieldSelectors(t *testing.T, e *env) {
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	for _, p := range []struct {
		name, node string
		phase      corev1.PodPhase
	}{{"p1", "node-a", corev1.PodRunning}, {"p2", "node-b", corev1.PodRunning}, {"p3", "node-a", corev1.PodSucceeded}, {"p4", "", ""}} {
		obj := pod(ns, p.name)
		obj.Spec.NodeName = p.node
		created, err := pods.Create(ctx(t), obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.phase != "" {
			created.Status.Phase = p.phase
			if _, err := pods.UpdateStatus(ctx(t), created, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		selector string
		want     []string
	}{
		{"metadata.name=p2", []string{"p2"}},
		{"metadata.name!=p2", []string{"p1", "p3", "p4"}},
		{"metadata.namespace=" + ns, []string{"p1", "p2", "p3", "p4"}},
		{"spec.nodeName=node-a", []string{"p1", "p3"}},
		{"spec.nodeName=", []string{"p4"}},
		{"spec.nodeName!=", []string{"p1", "p2", "p3"}},
		{"status.phase=Running", []string{"p1", "p2"}},
		{"status.phase=Running,spec.nodeName=node-b", []string{"p2"}},
		{"status.phase!=Running", []string{"p3", "p4"}},
	}
	podNames := func(l *corev1.PodList) []string {
		return names(l.Items, func(p *corev1.Pod) string { return p.Name })
	}
	for _, c := range cases {
		t.Run(c.selector, func(t *testing.T) {
			for _, opts := range []metav1.ListOptions{{FieldSelector: c.selector}, {FieldSelector: c.selector, ResourceVersion: "0"}, {FieldSelector: c.selector, Limit: 2}} {
				var got []string
				for {
					l, err := pods.List(ctx(t), opts)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, podNames(l)...)
					if l.Continue == "" {
						break
					}
					opts.Continue = l.Continue
				}
				slices.Sort(got)
				if !slices.Equal(got, c.want) {
					t.Fatalf("%+v: got %v, want %v", opts, got, c.want)
				}
			}
		})
	}
	t.Run("unsupported field", func(t *testing.T) {
		for _, sel := range []string{"data.k=v", "spec.foo=bar"} {
			_, err := e.c.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{FieldSelector: sel})
			st := wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
			field := strings.SplitN(sel, "=", 2)[0]
			if !strings.Contains(st.Message, fmt.Sprintf("%q is not a known field selector", field)) {
				t.Fatalf("message %q", st.Message)
			}
		}
		// Pods' own fields are not ConfigMaps'.
		_, err := e.c.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{FieldSelector: "spec.nodeName=x"})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
		// Watches check the same.
		_, err = e.c.CoreV1().ConfigMaps(ns).Watch(ctx(t), metav1.ListOptions{FieldSelector: "data.k=v"})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
	})
	t.Run("other kinds", func(t *testing.T) {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}}
		if _, err := e.c.CoreV1().Secrets(ns).Create(ctx(t), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.CoreV1().Secrets(ns).Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "opaque"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		l, err := e.c.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{FieldSelector: "type=kubernetes.io/tls"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 || l.Items[0].Name != "tls" {
			t.Fatalf("type=kubernetes.io/tls selected %d secrets", len(l.Items))
		}
		nsl, err := e.c.CoreV1().Namespaces().List(ctx(t), metav1.ListOptions{FieldSelector: "status.phase=Active,metadata.name=" + ns})
		if err != nil {
			t.Fatal(err)
		}
		if len(nsl.Items) != 1 {
			t.Fatalf("namespace field selector selected %d", len(nsl.Items))
		}
	})
}

// testPaging: limit/continue pages are one consistent snapshot.
func testPaging(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	var want []string
	for i := 0; i < 25; i++ {
		name := fmt.Sprintf("cm-%02d", i)
		want = append(want, name)
		if _, err := cms.Create(ctx(t), configMap(ns, name, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var listRV string
	opts := metav1.ListOptions{Limit: 10}
	wantSizes := []int{10, 10, 5}
	wantRemaining := []int64{15, 5, -1}
	for page := 0; ; page++ {
		l, err := cms.List(ctx(t), opts)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if page >= len(wantSizes) {
			t.Fatalf("more than %d pages", len(wantSizes))
		}
		if len(l.Items) != wantSizes[page] {
			t.Fatalf("page %d has %d items, want %d", page, len(l.Items), wantSizes[page])
		}
		if wantRemaining[page] < 0 {
			if l.RemainingItemCount != nil {
				t.Fatalf("last page has remainingItemCount %d", *l.RemainingItemCount)
			}
		} else if l.RemainingItemCount == nil || *l.RemainingItemCount != wantRemaining[page] {
			t.Fatalf("page %d remainingItemCount = %v, want %d", page, l.RemainingItemCount, wantRemaining[page])
		}
		if page == 0 {
			listRV = l.ResourceVersion
			// Changes between pages do not show in this list.
			if _, err := cms.Create(ctx(t), configMap(ns, "cm-00a", nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := cms.Delete(ctx(t), "cm-24", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := cms.Update(ctx(t), configMap(ns, "cm-15", map[string]string{"changed": "yes"}), metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		} else if l.ResourceVersion != listRV {
			t.Fatalf("page %d resourceVersion %s, first page %s: not one snapshot", page, l.ResourceVersion, listRV)
		}
		for _, item := range l.Items {
			got = append(got, item.Name)
			if item.Name == "cm-15" && item.Data["changed"] != "" {
				t.Fatalf("page %d shows an update made after the list began", page)
			}
		}
		if l.Continue == "" {
			if page != 2 {
				t.Fatalf("no continue token after page %d", page)
			}
			break
		}
		opts.Continue = l.Continue
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages held %v, want %v", got, want)
	}
	// A fresh list sees the changes.
	l, err := cms.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Items); n != 25 || !slices.Contains(cmNames(l), "cm-00a") || slices.Contains(cmNames(l), "cm-24") {
		t.Fatalf("fresh list: %v", cmNames(l))
	}
	// Broken continue tokens.
	for _, tok := range []string{"garbage", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MCwic3RhcnQiOiJ4In0", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAsInN0YXJ0IjoiLi4vc2VjcmV0cy8ifQ"} {
		_, err := cms.List(ctx(t), metav1.ListOptions{Limit: 10, Continue: tok})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
	}
	// continue with a resourceVersion is refused.
	first, err := cms.List(ctx(t), metav1.ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cms.List(ctx(t), metav1.ListOptions{Limit: 10, Continue: first.Continue, ResourceVersion: first.ResourceVersion})
	st := wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
	if st.Message != "specifying resource version is not allowed when using continue" {
		t.Fatalf("message %q", st.Message)
	}
	// ... and so is resourceVersionMatch.
	_, err = cms.List(ctx(t), metav1.ListOptions{Limit: 10, Continue: first.Continue, ResourceVersion: first.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
}

// testPagingWithSelector: pages are filled up to limit with matching
// objects; remainingItemCount is unknown with a selector.
func testPagingWithSelector(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	var want []string
	for i := 0; i < 25; i++ {
		cm := configMap(ns, fmt.Sprintf("cm-%02d", i), nil)
		cm.Labels = map[string]string{"even": fmt.Sprint(i%2 == 0)}
		if i%2 == 0 {
			want = append(want, cm.Name)
		}
		if _, err := cms.Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	opts := metav1.ListOptions{Limit: 5, LabelSelector: "even=true"}
	pages := 0
	for {
		l, err := cms.List(ctx(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if l.RemainingItemCount != nil {
			t.Fatalf("remainingItemCount %d with a label selector", *l.RemainingItemCount)
		}
		if l.Continue != "" && len(l.Items) != 5 {
			t.Fatalf("a non-final page has %d items, want 5", len(l.Items))
		}
		got = append(got, cmNames(l)...)
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages held %v, want 3 pages of %v", pages, got, want)
	}
}

func testListResourceVersions(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	x1, err := cms.Create(ctx(t), configMap(ns, "x", map[string]string{"v": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x2, err := cms.Update(ctx(t), configMap(ns, "x", map[string]string{"v": "2"}), metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := cms.Create(ctx(t), configMap(ns, "y", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !(rv(t, x1.ResourceVersion) < rv(t, x2.ResourceVersion) && rv(t, x2.ResourceVersion) < rv(t, y.ResourceVersion)) {
		t.Fatalf("resourceVersions do not increase: %s %s %s", x1.ResourceVersion, x2.ResourceVersion, y.ResourceVersion)
	}
	exact := func(rv string) *corev1.ConfigMapList {
		t.Helper()
		l, err := cms.List(ctx(t), metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if err != nil {
			t.Fatalf("exact list at %s: %v", rv, err)
		}
		if l.ResourceVersion != rv {
			t.Fatalf("exact list at %s answered at %s", rv, l.ResourceVersion)
		}
		return l
	}
	if l := exact(x1.ResourceVersion); len(l.Items) != 1 || l.Items[0].Data["v"] != "1" || l.Items[0].ResourceVersion != x1.ResourceVersion {
		t.Fatalf("state at %s: %+v", x1.ResourceVersion, l.Items)
	}
	if l := exact(x2.ResourceVersion); len(l.Items) != 1 || l.Items[0].Data["v"] != "2" {
		t.Fatalf("state at %s: %+v", x2.ResourceVersion, l.Items)
	}
	if l := exact(y.ResourceVersion); !slices.Equal(cmNames(l), []string{"x", "y"}) {
		t.Fatalf("state at %s: %v", y.ResourceVersion, cmNames(l))
	}
	// Exact and paged together: still the old state.
	l, err := cms.List(ctx(t), metav1.ListOptions{ResourceVersion: x2.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact, Limit: 1})
	if err != nil || len(l.Items) != 1 || l.Items[0].Data["v"] != "2" || l.Continue != "" {
		t.Fatalf("exact paged list: %v %+v", err, l)
	}
	// NotOlderThan an old revision: at least that fresh, here the latest.
	l, err = cms.List(ctx(t), metav1.ListOptions{ResourceVersion: x1.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cmNames(l), []string{"x", "y"}) || rv(t, l.ResourceVersion) < rv(t, y.ResourceVersion) {
		t.Fatalf("NotOlderThan %s: %v at %s", x1.ResourceVersion, cmNames(l), l.ResourceVersion)
	}
	// resourceVersion=0: any state, served from the cache; it has both.
	l, err = cms.List(ctx(t), metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if rv(t, l.ResourceVersion) < rv(t, y.ResourceVersion) || !slices.Equal(cmNames(l), []string{"x", "y"}) {
		t.Fatalf("rv=0 list: %v at %s", cmNames(l), l.ResourceVersion)
	}
	// A plain list is consistent: it includes a write made just before.
	z, err := cms.Create(ctx(t), configMap(ns, "z", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err = cms.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cmNames(l), "z") || rv(t, l.ResourceVersion) < rv(t, z.ResourceVersion) {
		t.Fatalf("consistent list misses a prior write: %v at %s (write at %s)", cmNames(l), l.ResourceVersion, z.ResourceVersion)
	}
	// Invalid combinations.
	for _, opts := range []metav1.ListOptions{
		{ResourceVersionMatch: metav1.ResourceVersionMatchExact},
		{ResourceVersionMatch: metav1.ResourceVersionMatchExact, ResourceVersion: "0"},
		{ResourceVersionMatch: "Sometime", ResourceVersion: "5"},
	} {
		_, err := cms.List(ctx(t), opts)
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	}
	// A get at an old resourceVersion is answered at least that fresh.
	got, err := cms.Get(ctx(t), "x", metav1.GetOptions{ResourceVersion: "0"})
	if err != nil || got.Data["v"] != "2" {
		t.Fatalf("get rv=0: %v %v", got, err)
	}
}

// testListTooLarge: a resourceVersion the server has not seen yet is a
// 504 Timeout marked ResourceVersionTooLarge after a short wait, which
// client-go's reflector recognises.
func testListTooLarge(t *testing.T, e *env) {
	ns := e.namespace(t)
	l, err := e.c.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	future := fmt.Sprint(rv(t, l.ResourceVersion) + 1_000_000)
	c, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	start := time.Now()
	_, err = e.c.CoreV1().ConfigMaps(ns).List(c, metav1.ListOptions{ResourceVersion: future})
	st := wantAPIError(t, err, 504, metav1.StatusReasonTimeout)
	if !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		t.Fatalf("504 lacks the ResourceVersionTooLarge cause: %+v", st.Details)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	_, err = e.c.CoreV1().ConfigMaps(ns).Watch(c, metav1.ListOptions{ResourceVersion: future})
	wantAPIError(t, err, 504, metav1.StatusReasonTimeout)
	if !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		t.Fatalf("watch 504 lacks the ResourceVersionTooLarge cause: %v", err)
	}
}

// testListCompacted: lists at revisions etcd compacted away are 410 Gone.
func testListCompacted(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	for i := 0; i < 5; i++ {
		if _, err := cms.Create(ctx(t), configMap(ns, fmt.Sprintf("cm-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cms.List(ctx(t), metav1.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	old := first.ResourceVersion
	if _, err := cms.Create(ctx(t), configMap(ns, "later", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	compact(t, e)

	_, err = cms.List(ctx(t), metav1.ListOptions{Limit: 2, Continue: first.Continue})
	st := wantAPIError(t, err, 410, metav1.StatusReasonExpired)
	if !strings.Contains(st.Message, "continue") {
		t.Fatalf("message %q", st.Message)
	}
	_, err = cms.List(ctx(t), metav1.ListOptions{ResourceVersion: old, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	wantAPIError(t, err, 410, metav1.StatusReasonExpired)
	// The current state is still there.
	l, err := cms.List(ctx(t), metav1.ListOptions{Limit: 100})
	if err != nil || len(l.Items) != 6 {
		t.Fatalf("list after compaction: %v %v", err, l)
	}
}

// compact compacts etcd up to its current revision.
func compact(t *testing.T, e *env) int64 {
	t.Helper()
	etcd := e.s.EtcdClient(t)
	resp, err := etcd.Get(ctx(t), "compact-probe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Compact(ctx(t), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compacting etcd: %v", err)
	}
	etcd.Close()
	return resp.Header.Revision
}
