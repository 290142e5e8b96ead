package apiserver_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestIntegrationWatch(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("event order", func(t *testing.T) { testWatchOrder(t, e) })
	t.Run("from resourceVersion", func(t *testing.T) { testWatchFromRV(t, e) })
	t.Run("initial state", func(t *testing.T) { testWatchInitialState(t, e) })
	t.Run("label selector", func(t *testing.T) { testWatchSelector(t, e) })
	t.Run("field selector", func(t *testing.T) { testWatchFieldSelector(t, e) })
	t.Run("watch list", func(t *testing.T) { testWatchList(t, e) })
	t.Run("informer", func(t *testing.T) { testInformer(t, e) })
	t.Run("timeout", func(t *testing.T) { testWatchTimeout(t, e) })
	t.Run("all namespaces", func(t *testing.T) { testWatchAllNamespaces(t, e) })
	// 410 Gone for watches from compacted revisions is tested in
	// TestIntegrationRestart: the watch cache's history starts when the
	// server starts, like kube-apiserver's.
}

// next returns the next event of w, failing after a deadline.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a watch event")
	}
	return watch.Event{}
}

// nothingMore checks no event is pending: every write the watch should
// see was made before the call, and a write made after it acts as a
// barrier (its event must come first).
func nothingMore(t *testing.T, w watch.Interface, barrier func() string) {
	t.Helper()
	name := barrier()
	ev := next(t, w)
	if m := objectMetaOf(t, ev.Object); m.GetName() != name {
		t.Fatalf("unexpected event %s %s before the barrier %s", ev.Type, m.GetName(), name)
	}
}

func objectMetaOf(t *testing.T, obj runtime.Object) metav1.Object {
	t.Helper()
	if st, ok := obj.(*metav1.Status); ok {
		t.Fatalf("watch sent an error: %+v", st)
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		t.Fatalf("watch sent %T", obj)
	}
	return m
}

type seen struct {
	typ  watch.EventType
	name string
	rv   int64
}

func expectEvents(t *testing.T, w watch.Interface, want ...seen) []seen {
	t.Helper()
	var got []seen
	for range want {
		ev := next(t, w)
		m := objectMetaOf(t, ev.Object)
		got = append(got, seen{ev.Type, m.GetName(), rv(t, m.GetResourceVersion())})
	}
	for i := range want {
		if got[i].typ != want[i].typ || got[i].name != want[i].name || (want[i].rv != 0 && got[i].rv != want[i].rv) {
			t.Fatalf("events %+v, want %+v", got, want)
		}
		if i > 0 && got[i].rv <= got[i-1].rv {
			t.Fatalf("resourceVersions do not increase: %+v", got)
		}
	}
	return got
}

func testWatchOrder(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	l, err := cms.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	a, err := cms.Create(ctx(t), configMap(ns, "a", map[string]string{"v": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := cms.Update(ctx(t), configMap(ns, "a", map[string]string{"v": "2"}), metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := expectEvents(t, w,
		seen{watch.Added, "a", rv(t, a.ResourceVersion)},
		seen{watch.Modified, "a", rv(t, a2.ResourceVersion)},
		seen{watch.Deleted, "a", 0})
	if got[2].rv <= rv(t, a2.ResourceVersion) {
		t.Fatalf("DELETED carries resourceVersion %d, not the deletion's", got[2].rv)
	}
	nothingMore(t, w, func() string {
		if _, err := cms.Create(ctx(t), configMap(ns, "barrier", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return "barrier"
	})
}

func testWatchFromRV(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	a1, err := cms.Create(ctx(t), configMap(ns, "a", map[string]string{"v": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := cms.Update(ctx(t), configMap(ns, "a", map[string]string{"v": "2"}), metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cms.Create(ctx(t), configMap(ns, "b", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: a1.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expectEvents(t, w,
		seen{watch.Modified, "a", rv(t, a2.ResourceVersion)},
		seen{watch.Added, "b", rv(t, b.ResourceVersion)})
	nothingMore(t, w, func() string {
		if _, err := cms.Create(ctx(t), configMap(ns, "c", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return "c"
	})
	// From the latest revision: nothing old.
	w2, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: b.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	expectEvents(t, w2, seen{watch.Added, "c", 0})
}

// testWatchInitialState: a watch without a resourceVersion, or at "0",
// starts with the current objects as ADDED events.
func testWatchInitialState(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	for _, n := range []string{"a", "b"} {
		if _, err := cms.Create(ctx(t), configMap(ns, n, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, rv := range []string{"", "0"} {
		w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		expectEvents(t, w, seen{watch.Added, "a", 0}, seen{watch.Added, "b", 0})
		w.Stop()
	}
}

func testWatchSelector(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	w, err := cms.Watch(ctx(t), metav1.ListOptions{LabelSelector: "app=x"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	labeled := func(name, app string) *corev1.ConfigMap {
		cm := configMap(ns, name, nil)
		cm.Labels = map[string]string{"app": app}
		return cm
	}
	if _, err := cms.Create(ctx(t), labeled("other", "y"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx(t), labeled("m", "x"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Update(ctx(t), labeled("m", "y"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Update(ctx(t), labeled("other", "z"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Update(ctx(t), labeled("m", "x"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "other", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "m", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 4; i++ {
		ev := next(t, w)
		cm := ev.Object.(*corev1.ConfigMap)
		got = append(got, fmt.Sprintf("%s %s app=%s", ev.Type, cm.Name, cm.Labels["app"]))
	}
	want := []string{"ADDED m app=x", "DELETED m app=y", "ADDED m app=x", "DELETED m app=x"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	nothingMore(t, w, func() string {
		if _, err := cms.Create(ctx(t), labeled("barrier", "x"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return "barrier"
	})
}

func testWatchFieldSelector(t *testing.T, e *env) {
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	w, err := pods.Watch(ctx(t), metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := pods.Create(ctx(t), pod(ns, "elsewhere"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx(t), pod(ns, "p"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Binding p to node-a moves it into the selection.
	if err := pods.Bind(ctx(t), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := next(t, w)
	if p := ev.Object.(*corev1.Pod); ev.Type != watch.Added || p.Name != "p" || p.Spec.NodeName != "node-a" {
		t.Fatalf("got %s %s on %q, want ADDED p on node-a", ev.Type, p.Name, p.Spec.NodeName)
	}
}

// testWatchList: sendInitialEvents streams the current objects as ADDED,
// then a BOOKMARK marking the end of the initial events, then changes.
func testWatchList(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	var last string
	for _, n := range []string{"a", "b", "c"} {
		cm, err := cms.Create(ctx(t), configMap(ns, n, nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = cm.ResourceVersion
	}
	for _, from := range []string{"", last} {
		t.Run("rv="+from, func(t *testing.T) {
			w, err := cms.Watch(ctx(t), metav1.ListOptions{
				SendInitialEvents:    ptr.To(true),
				ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
				ResourceVersion:      from,
				AllowWatchBookmarks:  true,
			})
			if err != nil {
				t.Fatalf("watch-list request: %v", err)
			}
			defer w.Stop()
			l, err := cms.List(ctx(t), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var added []string
			for len(added) < len(l.Items) {
				ev := next(t, w)
				if ev.Type != watch.Added {
					t.Fatalf("got %s before the initial objects, have %v", ev.Type, added)
				}
				added = append(added, ev.Object.(*corev1.ConfigMap).Name)
			}
			slices.Sort(added)
			if !slices.Equal(added, cmNames(l)) || len(added) < 3 {
				t.Fatalf("initial events for %v, want %v", added, cmNames(l))
			}
			ev := next(t, w)
			if ev.Type != watch.Bookmark {
				t.Fatalf("after the initial events got %s, want BOOKMARK", ev.Type)
			}
			bm := ev.Object.(*corev1.ConfigMap)
			if bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
				t.Fatalf("bookmark annotations %v, want %s=true", bm.Annotations, metav1.InitialEventsAnnotationKey)
			}
			if rv(t, bm.ResourceVersion) < rv(t, last) {
				t.Fatalf("bookmark at %s, older than the last write %s", bm.ResourceVersion, last)
			}
			if bm.Name != "" || len(bm.Data) != 0 {
				t.Fatalf("bookmark carries object content: %+v", bm)
			}
			d, err := cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "d-"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ev = next(t, w)
			if ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != d.Name {
				t.Fatalf("after the bookmark got %s %s, want ADDED %s", ev.Type, ev.Object.(*corev1.ConfigMap).Name, d.Name)
			}
		})
	}
	t.Run("without bookmarks", func(t *testing.T) {
		// Without allowWatchBookmarks there is no end marker; the
		// initial ADDED events still come.
		w, err := cms.Watch(ctx(t), metav1.ListOptions{SendInitialEvents: ptr.To(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		for i := 0; i < 3; i++ {
			if ev := next(t, w); ev.Type != watch.Added {
				t.Fatalf("got %s", ev.Type)
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		// sendInitialEvents needs resourceVersionMatch=NotOlderThan.
		_, err := cms.Watch(ctx(t), metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		// And a list may not ask for it.
		_, err = cms.List(ctx(t), metav1.ListOptions{SendInitialEvents: ptr.To(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	})
}

type recordingTransport struct {
	mu   sync.Mutex
	urls []string
	rt   http.RoundTripper
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.Method+" "+req.URL.RequestURI())
	r.mu.Unlock()
	return r.rt.RoundTrip(req)
}

// testInformer: a client-go informer (which streams its initial list with
// watch-list) syncs and then follows changes.
func testInformer(t *testing.T, e *env) {
	ns := e.namespace(t)
	cms := e.c.CoreV1().ConfigMaps(ns)
	for _, n := range []string{"a", "b"} {
		if _, err := cms.Create(ctx(t), configMap(ns, n, map[string]string{"v": "1"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recordingTransport{}
	cfg := rest.CopyConfig(e.s.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.rt = rt; return rec })
	client := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps()
	var mu sync.Mutex
	var events []string
	record := func(format string, args ...any) {
		mu.Lock()
		events = append(events, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { record("add %s", obj.(*corev1.ConfigMap).Name) },
		UpdateFunc: func(_, obj any) {
			record("update %s v=%s", obj.(*corev1.ConfigMap).Name, obj.(*corev1.ConfigMap).Data["v"])
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			record("delete %s", obj.(*corev1.ConfigMap).Name)
		},
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer func() { close(stop); factory.Shutdown() }()
	factory.Start(stop)
	synced := factory.WaitForCacheSync(stop)
	for typ, ok := range synced {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	got, err := inf.Lister().ConfigMaps(ns).List(labels.Everything())
	if err != nil || len(got) != 2 {
		t.Fatalf("lister after sync holds %d objects (%v)", len(got), err)
	}
	if _, err := cms.Create(ctx(t), configMap(ns, "c", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Update(ctx(t), configMap(ns, "a", map[string]string{"v": "2"}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"add a", "add b", "add c", "update a v=2", "delete b"}
	eventually(t, "informer events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) >= len(want)
	})
	mu.Lock()
	gotEvents := slices.Clone(events)
	mu.Unlock()
	initial := slices.Clone(gotEvents[:2])
	slices.Sort(initial)
	if !slices.Equal(append(initial, gotEvents[2:]...), want) {
		t.Fatalf("informer saw %q, want %q", gotEvents, want)
	}
	if _, err := inf.Lister().ConfigMaps(ns).Get("b"); err == nil {
		t.Fatal("lister still has b")
	}
	// The informer used the watch-list protocol and needed no list.
	rec.mu.Lock()
	urls := slices.Clone(rec.urls)
	rec.mu.Unlock()
	watchList := false
	for _, u := range urls {
		if strings.Contains(u, "sendInitialEvents=true") {
			watchList = true
		}
		if strings.HasPrefix(u, "GET ") && !strings.Contains(u, "watch=true") {
			t.Errorf("informer fell back to a list: %s", u)
		}
	}
	if !watchList {
		t.Fatalf("informer requests %q used no watch-list", urls)
	}
}

func testWatchTimeout(t *testing.T, e *env) {
	ns := e.namespace(t)
	start := time.Now()
	w, err := e.c.CoreV1().ConfigMaps(ns).Watch(ctx(t), metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1), AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case _, ok := <-w.ResultChan():
		if ok {
			t.Fatal("event on an empty namespace")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch with timeoutSeconds=1 still open after 10s")
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("watch ended after %v, before its timeout", d)
	}
}

func testWatchAllNamespaces(t *testing.T, e *env) {
	ns1, ns2 := e.namespace(t), e.namespace(t)
	w, err := e.c.CoreV1().ConfigMaps("").Watch(ctx(t), metav1.ListOptions{LabelSelector: "watch-all=" + ns1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, ns := range []string{ns1, ns2} {
		cm := configMap(ns, "x", nil)
		cm.Labels = map[string]string{"watch-all": ns1}
		if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for i := 0; i < 2; i++ {
		got = append(got, next(t, w).Object.(*corev1.ConfigMap).Namespace)
	}
	if !slices.Equal(got, []string{ns1, ns2}) {
		t.Fatalf("events from %v", got)
	}
}

// wantWatchGone checks that a watch of ns's ConfigMaps from resourceVersion
// from gets 410 Gone the way kube-apiserver sends it: an ERROR event
// carrying an Expired Status, which makes clients re-list.
func wantWatchGone(t *testing.T, e *env, ns, from string) {
	t.Helper()
	r := e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps?watch=true&timeoutSeconds=5&resourceVersion="+from, "", nil)
	if r.code != 200 {
		t.Fatalf("watch from a too old revision: HTTP %d (%s), want 200 and an ERROR event as kube-apiserver sends", r.code, r.body)
	}
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	if !sc.Scan() {
		t.Fatalf("no event in %q", r.body)
	}
	var ev struct {
		Type   string        `json:"type"`
		Object metav1.Status `json:"object"`
	}
	if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "ERROR" || ev.Object.Code != 410 || ev.Object.Reason != metav1.StatusReasonExpired || ev.Object.Kind != "Status" {
		t.Fatalf("got event %s %+v, want ERROR with a 410 Expired Status", ev.Type, ev.Object)
	}
	if sc.Scan() {
		t.Fatalf("more after the ERROR event: %s", sc.Text())
	}
	// client-go surfaces it as an Error event.
	w, err := e.c.CoreV1().ConfigMaps(ns).Watch(ctx(t), metav1.ListOptions{ResourceVersion: from})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	got := next(t, w)
	if st, ok := got.Object.(*metav1.Status); got.Type != watch.Error || !ok || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("client-go got %s %#v", got.Type, got.Object)
	}
}
