package apiserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"kite/server/registry"
)

func TestIntegrationDiscovery(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("groups and resources", func(t *testing.T) { testDiscoveryResources(t, e) })
	t.Run("aggregated", func(t *testing.T) { testAggregatedDiscovery(t, e) })
	t.Run("version", func(t *testing.T) { testVersion(t, e) })
	t.Run("health and authentication", func(t *testing.T) { testHealthAndAuthn(t, e) })
	t.Run("self subject review", func(t *testing.T) { testSelfSubjectReview(t, e) })
	t.Run("yaml", func(t *testing.T) { testYAML(t, e) })
	t.Run("protobuf", func(t *testing.T) { testProtobuf(t, e) })
	t.Run("tables", func(t *testing.T) { testTables(t, e) })
	t.Run("metadata client", func(t *testing.T) { testMetadataClient(t, e) })
}

// testDiscoveryResources: client-go's discovery (aggregated by default)
// lists every resource of the registry with its verbs and scope, and the
// subresources.
func testDiscoveryResources(t *testing.T, e *env) {
	groups, lists, err := e.c.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]metav1.APIResource{} // group/version/name
	for _, l := range lists {
		for _, r := range l.APIResources {
			served[l.GroupVersion+"/"+r.Name] = r
		}
	}
	for _, res := range registry.All() {
		key := res.GroupVersion.String() + "/" + res.Resource
		got, ok := served[key]
		if !ok {
			t.Errorf("discovery lacks %s", key)
			continue
		}
		if got.Kind != res.Kind || got.Namespaced != res.Namespaced {
			t.Errorf("%s: kind %s namespaced %v, want %s %v", key, got.Kind, got.Namespaced, res.Kind, res.Namespaced)
		}
		want := slices.Sorted(slices.Values(res.AllVerbs()))
		if have := slices.Sorted(slices.Values([]string(got.Verbs))); !slices.Equal(have, want) {
			t.Errorf("%s: verbs %v, want %v", key, have, want)
		}
		if !slices.Equal(got.ShortNames, res.ShortNames) && !(len(got.ShortNames) == 0 && len(res.ShortNames) == 0) {
			t.Errorf("%s: short names %v, want %v", key, got.ShortNames, res.ShortNames)
		}
		if got.SingularName != res.SingularName {
			t.Errorf("%s: singular %q, want %q", key, got.SingularName, res.SingularName)
		}
	}
	for key, verbs := range map[string][]string{
		"v1/pods/status":             {"get", "patch", "update"},
		"v1/pods/binding":            {"create"},
		"v1/pods/eviction":           {"create"},
		"v1/namespaces/finalize":     {"update"},
		"v1/services/status":         {"get", "patch", "update"},
		"apps/v1/deployments/scale":  {"get", "patch", "update"},
		"apps/v1/deployments/status": {"get", "patch", "update"},
		"apps/v1/statefulsets/scale": {"get", "patch", "update"},
	} {
		got, ok := served[key]
		if !ok {
			t.Errorf("discovery lacks subresource %s", key)
			continue
		}
		if have := slices.Sorted(slices.Values([]string(got.Verbs))); !slices.Equal(have, verbs) {
			t.Errorf("%s: verbs %v, want %v", key, have, verbs)
		}
	}
	if scale := served["apps/v1/deployments/scale"]; scale.Kind != "Scale" || scale.Group != "autoscaling" || scale.Version != "v1" {
		t.Errorf("deployments/scale is %s/%s %s, want autoscaling/v1 Scale", scale.Group, scale.Version, scale.Kind)
	}
	// Nothing served that the registry does not declare.
	declared := map[string]bool{}
	for _, res := range registry.All() {
		declared[res.GroupVersion.String()+"/"+res.Resource] = true
	}
	for key := range served {
		parts := strings.Split(key, "/")
		if strings.Contains(parts[len(parts)-1], ".") {
			continue
		}
		main := strings.Join(parts[:len(parts)-1], "/")
		if !declared[key] && !declared[main] && !declared[strings.Join(parts[:len(parts)-2], "/")+"/"+parts[len(parts)-2]] {
			t.Errorf("discovery serves undeclared %s", key)
		}
	}
	// Preferred versions: every group has one.
	for _, g := range groups {
		if g.PreferredVersion.GroupVersion == "" {
			t.Errorf("group %q has no preferred version", g.Name)
		}
	}
	// The groups a kubectl user expects.
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	for _, want := range []string{"", "apps", "batch", "rbac.authorization.k8s.io", "coordination.k8s.io", "events.k8s.io", "networking.k8s.io", "policy", "discovery.k8s.io", "authentication.k8s.io", "authorization.k8s.io"} {
		if !slices.Contains(names, want) {
			t.Errorf("groups %v lack %q", names, want)
		}
	}
	// Legacy (unaggregated) discovery documents are served too.
	r := e.do(t, "GET", "/apis/apps/v1", "", nil, "Accept", "application/json")
	var l metav1.APIResourceList
	if err := json.Unmarshal(r.body, &l); r.code != 200 || err != nil || l.GroupVersion != "apps/v1" || len(l.APIResources) == 0 {
		t.Fatalf("/apis/apps/v1: %d %s", r.code, r.body)
	}
	r = e.do(t, "GET", "/apis/nosuch/v1", "", nil)
	if r.code != 404 {
		t.Fatalf("/apis/nosuch/v1: %d", r.code)
	}
}

func testAggregatedDiscovery(t *testing.T, e *env) {
	accept := "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
	for _, path := range []string{"/api", "/apis"} {
		r := e.do(t, "GET", path, "", nil, "Accept", accept)
		if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") {
			t.Fatalf("%s: %d %s", path, r.code, r.header.Get("Content-Type"))
		}
		var list apidiscoveryv2.APIGroupDiscoveryList
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		find := func(group, resource string) *apidiscoveryv2.APIResourceDiscovery {
			for _, g := range list.Items {
				if g.Name != group {
					continue
				}
				for _, v := range g.Versions {
					for i := range v.Resources {
						if v.Resources[i].Resource == resource {
							return &v.Resources[i]
						}
					}
				}
			}
			return nil
		}
		subs := func(r *apidiscoveryv2.APIResourceDiscovery) map[string]apidiscoveryv2.APISubresourceDiscovery {
			out := map[string]apidiscoveryv2.APISubresourceDiscovery{}
			for _, s := range r.Subresources {
				out[s.Subresource] = s
			}
			return out
		}
		if path == "/api" {
			pods := find("", "pods")
			if pods == nil || pods.Scope != apidiscoveryv2.ScopeNamespace || pods.ResponseKind.Kind != "Pod" {
				t.Fatalf("aggregated /api pods: %+v", pods)
			}
			s := subs(pods)
			if st, ok := s["status"]; !ok || st.ResponseKind.Kind != "Pod" || !slices.Equal(st.Verbs, []string{"get", "patch", "update"}) {
				t.Fatalf("pods/status: %+v", s)
			}
			if _, ok := s["binding"]; !ok {
				t.Fatalf("pods subresources %v lack binding", s)
			}
			if _, ok := s["eviction"]; !ok {
				t.Fatalf("pods subresources %v lack eviction", s)
			}
			continue
		}
		deps := find("apps", "deployments")
		if deps == nil {
			t.Fatal("aggregated /apis lacks deployments")
		}
		s := subs(deps)
		if sc, ok := s["scale"]; !ok || sc.ResponseKind.Group != "autoscaling" || sc.ResponseKind.Kind != "Scale" {
			t.Fatalf("deployments/scale: %+v", s)
		}
		if _, ok := s["status"]; !ok {
			t.Fatal("deployments lack status")
		}
	}
}

func testVersion(t *testing.T, e *env) {
	v, err := e.c.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2+kite" || v.Major != "1" || v.Minor != "37" {
		t.Fatalf("version %+v", v)
	}
}

func testHealthAndAuthn(t *testing.T, e *env) {
	anon := rest.CopyConfig(e.s.Config)
	anon.CertFile, anon.KeyFile = "", ""
	hc, err := rest.HTTPClientFor(anon)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := hc.Get(e.s.Config.Host + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		if code, body := get(path); code != 200 {
			t.Errorf("anonymous %s: %d %s", path, code, body)
		}
	}
	for _, path := range []string{"/api", "/apis", "/api/v1/namespaces", "/api/v1/namespaces/default/secrets", "/openapi/v2", "/openapi/v3", "/metrics", "/nonexistent"} {
		code, body := get(path)
		if code != 401 {
			t.Errorf("anonymous %s: %d, want 401", path, code)
			continue
		}
		var st metav1.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.Reason != metav1.StatusReasonUnauthorized || st.Code != 401 {
			t.Errorf("anonymous %s: body %s", path, body)
		}
	}
	// A certificate from another CA is no credential either.
	other := rest.CopyConfig(anon)
	other.Insecure, other.CAFile = true, ""
	if hc2, err := rest.HTTPClientFor(other); err == nil {
		resp, err := hc2.Get(e.s.Config.Host + "/api")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("insecure anonymous /api: %d", resp.StatusCode)
			}
		}
	}
}

func testSelfSubjectReview(t *testing.T, e *env) {
	review, err := e.c.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := review.Status.UserInfo
	if u.Username != "system:admin" || !slices.Contains(u.Groups, "system:masters") || !slices.Contains(u.Groups, "system:authenticated") {
		t.Fatalf("whoami: %+v", u)
	}
	sar, err := e.c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx(t), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sar.Status.Allowed {
		t.Fatalf("admin may not delete nodes: %+v", sar.Status)
	}
	// Reviews are create-only.
	r := e.do(t, "GET", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "", nil)
	if r.code != 405 && r.code != 404 {
		t.Fatalf("GET selfsubjectreviews: %d %s", r.code, r.body)
	}
}

func testYAML(t *testing.T, e *env) {
	ns := e.namespace(t)
	manifest := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n  labels:\n    a: b\ndata:\n  key: value\n")
	r := e.do(t, "POST", "/api/v1/namespaces/"+ns+"/configmaps", "application/yaml", manifest, "Accept", "application/yaml")
	if r.code != 201 || r.header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("YAML create: %d %s %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(r.body, &cm); err != nil {
		t.Fatalf("YAML response: %v\n%s", err, r.body)
	}
	if cm.Name != "from-yaml" || cm.Data["key"] != "value" || cm.Kind != "ConfigMap" || cm.APIVersion != "v1" || cm.UID == "" {
		t.Fatalf("YAML object %+v", cm)
	}
	r = e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps/from-yaml", "", nil, "Accept", "application/yaml")
	if r.code != 200 || !bytes.HasPrefix(r.body, []byte("apiVersion: v1\n")) {
		t.Fatalf("YAML get: %d %s", r.code, r.body)
	}
	r = e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps", "", nil, "Accept", "application/yaml")
	var list corev1.ConfigMapList
	if err := yaml.Unmarshal(r.body, &list); r.code != 200 || err != nil || list.Kind != "ConfigMapList" || len(list.Items) != 1 || list.ResourceVersion == "" {
		t.Fatalf("YAML list: %d %v %s", r.code, err, r.body)
	}
	// Errors come back in YAML when YAML is asked for.
	r = e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps/missing", "", nil, "Accept", "application/yaml")
	var st metav1.Status
	if err := yaml.Unmarshal(r.body, &st); r.code != 404 || err != nil || st.Reason != metav1.StatusReasonNotFound {
		t.Fatalf("YAML error: %d %s", r.code, r.body)
	}
	// An Accept nothing can satisfy is 406.
	r = e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps/from-yaml", "", nil, "Accept", "text/html")
	if r.code != 406 {
		t.Fatalf("Accept text/html: %d %s", r.code, r.body)
	}
}

// contentTypeRecorder records the Content-Type of each response.
type contentTypeRecorder struct {
	mu    sync.Mutex
	types []string
	rt    http.RoundTripper
}

func (c *contentTypeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if err == nil {
		c.mu.Lock()
		c.types = append(c.types, req.Method+" "+req.Header.Get("Content-Type")+" → "+resp.Header.Get("Content-Type"))
		c.mu.Unlock()
	}
	return resp, err
}

func testProtobuf(t *testing.T, e *env) {
	ns := e.namespace(t)
	rec := &contentTypeRecorder{}
	cfg := rest.CopyConfig(e.s.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.rt = rt; return rec })
	c := kubernetes.NewForConfigOrDie(cfg)

	d, err := c.AppsV1().Deployments(ns).Create(ctx(t), deployment(ns, "d", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("protobuf create: %v", err)
	}
	if *d.Spec.Replicas != 2 || d.UID == "" || d.Spec.Template.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("protobuf create answered %+v", d)
	}
	w, err := c.AppsV1().Deployments(ns).Watch(ctx(t), metav1.ListOptions{ResourceVersion: d.ResourceVersion})
	if err != nil {
		t.Fatalf("protobuf watch: %v", err)
	}
	defer w.Stop()
	got, err := c.AppsV1().Deployments(ns).Get(ctx(t), "d", metav1.GetOptions{})
	if err != nil || got.ResourceVersion != d.ResourceVersion {
		t.Fatalf("protobuf get: %v %+v", err, got)
	}
	got.Spec.Replicas = ptr.To[int32](3)
	if _, err := c.AppsV1().Deployments(ns).Update(ctx(t), got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("protobuf update: %v", err)
	}
	l, err := c.AppsV1().Deployments(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 || *l.Items[0].Spec.Replicas != 3 {
		t.Fatalf("protobuf list: %v %+v", err, l)
	}
	ev := next(t, w)
	if wd, ok := ev.Object.(*appsv1.Deployment); ev.Type != watch.Modified || !ok || *wd.Spec.Replicas != 3 {
		t.Fatalf("protobuf watch event %s %#v", ev.Type, ev.Object)
	}
	// Errors decode from protobuf too.
	_, err = c.AppsV1().Deployments(ns).Get(ctx(t), "missing", metav1.GetOptions{})
	wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	if err := c.AppsV1().Deployments(ns).Delete(ctx(t), "d", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("protobuf delete: %v", err)
	}
	rec.mu.Lock()
	types := slices.Clone(rec.types)
	rec.mu.Unlock()
	for _, ct := range types {
		if !strings.HasSuffix(ct, "→ application/vnd.kubernetes.protobuf") && !strings.HasSuffix(ct, "→ application/vnd.kubernetes.protobuf;stream=watch") {
			t.Errorf("response not in protobuf: %s", ct)
		}
	}
	if !slices.ContainsFunc(types, func(s string) bool { return strings.HasPrefix(s, "POST application/vnd.kubernetes.protobuf") }) {
		t.Errorf("no protobuf request body was sent: %v", types)
	}
}

func testTables(t *testing.T, e *env) {
	ns := e.namespace(t)
	p := pod(ns, "p")
	p.Spec.NodeName = "node-a"
	if _, err := e.c.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AppsV1().Deployments(ns).Create(ctx(t), deployment(ns, "d", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CoreV1().Services(ns).Create(ctx(t), service(ns, "s"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	accept := "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	cases := []struct {
		path    string
		columns []string
		wide    int // index of the first priority-1 column
		first   []any
	}{
		{"/api/v1/namespaces/" + ns + "/pods", []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}, 5, []any{"p", "0/1", "Pending", "0"}},
		{"/apis/apps/v1/namespaces/" + ns + "/deployments", []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"}, 5, []any{"d", "0/1", float64(0), float64(0)}},
		{"/api/v1/namespaces/" + ns + "/services", []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"}, 6, []any{"s", "ClusterIP"}},
		{"/api/v1/namespaces/" + ns + "/pods/p", []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}, 5, []any{"p"}},
	}
	for _, c := range cases {
		r := e.do(t, "GET", c.path, "", nil, "Accept", accept)
		var table metav1.Table
		if err := json.Unmarshal(r.body, &table); r.code != 200 || err != nil {
			t.Fatalf("%s: %d %v %s", c.path, r.code, err, r.body)
		}
		if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" || table.ResourceVersion == "" {
			t.Fatalf("%s: %s %s rv=%q", c.path, table.Kind, table.APIVersion, table.ResourceVersion)
		}
		var cols []string
		for i, col := range table.ColumnDefinitions {
			cols = append(cols, col.Name)
			wantPriority := int32(0)
			if i >= c.wide {
				wantPriority = 1
			}
			if col.Priority != wantPriority {
				t.Errorf("%s: column %s priority %d, want %d", c.path, col.Name, col.Priority, wantPriority)
			}
		}
		if !slices.Equal(cols, c.columns) {
			t.Fatalf("%s: columns %q, want %q", c.path, cols, c.columns)
		}
		if len(table.Rows) != 1 {
			t.Fatalf("%s: %d rows", c.path, len(table.Rows))
		}
		row := table.Rows[0]
		for i, want := range c.first {
			if row.Cells[i] != want {
				t.Fatalf("%s: cell %d = %#v, want %#v (row %v)", c.path, i, row.Cells[i], want, row.Cells)
			}
		}
		var meta metav1.PartialObjectMetadata
		if err := json.Unmarshal(row.Object.Raw, &meta); err != nil || meta.Kind != "PartialObjectMetadata" || meta.Name != c.first[0] {
			t.Fatalf("%s: row object %s", c.path, row.Object.Raw)
		}
	}
	// includeObject=Object embeds the whole object; None nothing.
	r := e.do(t, "GET", "/api/v1/namespaces/"+ns+"/pods?includeObject=Object", "", nil, "Accept", accept)
	var table metav1.Table
	if err := json.Unmarshal(r.body, &table); err != nil || len(table.Rows) != 1 || !strings.Contains(string(table.Rows[0].Object.Raw), `"kind":"Pod"`) {
		t.Fatalf("includeObject=Object: %s", r.body)
	}
	r = e.do(t, "GET", "/api/v1/namespaces/"+ns+"/pods?includeObject=None", "", nil, "Accept", accept)
	table = metav1.Table{}
	if err := json.Unmarshal(r.body, &table); err != nil || len(table.Rows) != 1 || len(table.Rows[0].Object.Raw) != 0 {
		t.Fatalf("includeObject=None: %s", r.body)
	}
}

func testMetadataClient(t *testing.T, e *env) {
	ns := e.namespace(t)
	for _, n := range []string{"a", "b"} {
		cm := configMap(ns, n, map[string]string{"secret-ish": "payload"})
		cm.Labels = map[string]string{"name": n}
		if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mc, err := metadata.NewForConfig(e.s.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	l, err := mc.Resource(gvr).Namespace(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "name=a"})
	if err != nil {
		t.Fatalf("metadata list: %v", err)
	}
	if len(l.Items) != 1 || l.Items[0].Name != "a" || l.Items[0].Labels["name"] != "a" || l.ResourceVersion == "" {
		t.Fatalf("metadata list %+v", l)
	}
	one, err := mc.Resource(gvr).Namespace(ns).Get(ctx(t), "b", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("metadata get: %v", err)
	}
	if one.Name != "b" || one.UID == "" {
		t.Fatalf("metadata get %+v", one)
	}
	w, err := mc.Resource(gvr).Namespace(ns).Watch(ctx(t), metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatalf("metadata watch: %v", err)
	}
	defer w.Stop()
	if err := e.c.CoreV1().ConfigMaps(ns).Delete(ctx(t), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := next(t, w)
	m, ok := ev.Object.(*metav1.PartialObjectMetadata)
	if ev.Type != watch.Deleted || !ok || m.Name != "a" {
		t.Fatalf("metadata watch event %s %#v", ev.Type, ev.Object)
	}
	// The raw response carries no data.
	r := e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps", "", nil, "Accept", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
	if r.code != 200 || strings.Contains(string(r.body), "payload") || !strings.Contains(string(r.body), `"kind":"PartialObjectMetadataList"`) {
		t.Fatalf("PartialObjectMetadataList: %d %s", r.code, r.body)
	}
	// Asking for the single form on a list is refused.
	r = e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps", "", nil, "Accept", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io")
	if r.code != 406 && r.code != 400 {
		t.Fatalf("PartialObjectMetadata for a list: %d %s", r.code, r.body)
	}
}
