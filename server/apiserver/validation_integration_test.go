package apiserver_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestIntegrationValidation(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("invalid objects", func(t *testing.T) { testInvalidObjects(t, e) })
	t.Run("immutable fields", func(t *testing.T) { testImmutableFields(t, e) })
	t.Run("bad request bodies", func(t *testing.T) { testBadBodies(t, e) })
	t.Run("field validation", func(t *testing.T) { testFieldValidation(t, e) })
	t.Run("bad parameters", func(t *testing.T) { testBadParameters(t, e) })
}

// testInvalidObjects: creates that fail validation are 422 Invalid with the
// offending field in details.causes, and store nothing.
func testInvalidObjects(t *testing.T, e *env) {
	ns := e.namespace(t)
	cases := []struct {
		name   string
		create func() error
		kind   string // details.kind
		field  string
		typ    metav1.CauseType
	}{
		{"invalid name", func() error {
			_, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "Bad_Name", nil), metav1.CreateOptions{})
			return err
		}, "ConfigMap", "metadata.name", metav1.CauseTypeFieldValueInvalid},
		{"missing name", func() error {
			_, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "", nil), metav1.CreateOptions{})
			return err
		}, "ConfigMap", "metadata.name", metav1.CauseTypeFieldValueRequired},
		{"pod without containers", func() error {
			p := pod(ns, "p")
			p.Spec.Containers = nil
			_, err := e.c.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{})
			return err
		}, "Pod", "spec.containers", metav1.CauseTypeFieldValueRequired},
		{"container without image", func() error {
			p := pod(ns, "p")
			p.Spec.Containers[0].Image = ""
			_, err := e.c.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{})
			return err
		}, "Pod", "spec.containers[0].image", metav1.CauseTypeFieldValueRequired},
		{"service type Foo", func() error {
			s := service(ns, "s")
			s.Spec.Type = "Foo"
			_, err := e.c.CoreV1().Services(ns).Create(ctx(t), s, metav1.CreateOptions{})
			return err
		}, "Service", "spec.type", metav1.CauseTypeFieldValueNotSupported},
		{"deployment selector does not match template", func() error {
			d := deployment(ns, "d", 1)
			d.Spec.Template.Labels = map[string]string{"app": "other"}
			_, err := e.c.AppsV1().Deployments(ns).Create(ctx(t), d, metav1.CreateOptions{})
			return err
		}, "Deployment", "spec.template.metadata.labels", metav1.CauseTypeFieldValueInvalid},
		{"negative replicas", func() error {
			_, err := e.c.AppsV1().Deployments(ns).Create(ctx(t), deployment(ns, "d", -1), metav1.CreateOptions{})
			return err
		}, "Deployment", "spec.replicas", metav1.CauseTypeFieldValueInvalid},
		{"invalid label value", func() error {
			cm := configMap(ns, "cm", nil)
			cm.Labels = map[string]string{"a": "not a valid value"}
			_, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), cm, metav1.CreateOptions{})
			return err
		}, "ConfigMap", "metadata.labels", metav1.CauseTypeFieldValueInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := wantAPIError(t, c.create(), 422, metav1.StatusReasonInvalid)
			if st.Details == nil || st.Details.Kind != c.kind {
				t.Fatalf("details = %+v, want kind %s", st.Details, c.kind)
			}
			wantCause(t, st, c.field, c.typ)
			if !strings.Contains(st.Message, c.field) {
				t.Fatalf("message %q does not name %s", st.Message, c.field)
			}
		})
	}
	// Nothing of the above was stored.
	cms, _ := e.c.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{})
	pods, _ := e.c.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{})
	svcs, _ := e.c.CoreV1().Services(ns).List(ctx(t), metav1.ListOptions{})
	deps, _ := e.c.AppsV1().Deployments(ns).List(ctx(t), metav1.ListOptions{})
	if n := len(cms.Items) + len(pods.Items) + len(svcs.Items) + len(deps.Items); n != 0 {
		t.Fatalf("%d invalid objects were stored", n)
	}
}

// testImmutableFields: updates that change immutable fields are 422 and
// leave the object as it was.
func testImmutableFields(t *testing.T, e *env) {
	ns := e.namespace(t)

	t.Run("service clusterIP", func(t *testing.T) {
		svcs := e.c.CoreV1().Services(ns)
		svc, err := svcs.Create(ctx(t), service(ns, "svc"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		changed := svc.DeepCopy()
		changed.Spec.ClusterIP = "10.43.99.99"
		changed.Spec.ClusterIPs = []string{"10.43.99.99"}
		_, err = svcs.Update(ctx(t), changed, metav1.UpdateOptions{})
		st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, "spec.clusterIPs[0]", metav1.CauseTypeFieldValueInvalid)
		got, _ := svcs.Get(ctx(t), "svc", metav1.GetOptions{})
		if got.Spec.ClusterIP != svc.Spec.ClusterIP || got.ResourceVersion != svc.ResourceVersion {
			t.Fatalf("stored service changed: clusterIP %s rv %s", got.Spec.ClusterIP, got.ResourceVersion)
		}
		// Only clusterIP changed: the same error.
		changed = svc.DeepCopy()
		changed.Spec.ClusterIP = "10.43.99.98"
		_, err = svcs.Update(ctx(t), changed, metav1.UpdateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	})

	t.Run("immutable configmap", func(t *testing.T) {
		cms := e.c.CoreV1().ConfigMaps(ns)
		cm := configMap(ns, "frozen", map[string]string{"k": "v"})
		cm.Immutable = ptr.To(true)
		cm, err := cms.Create(ctx(t), cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		changed := cm.DeepCopy()
		changed.Data["k"] = "changed"
		_, err = cms.Update(ctx(t), changed, metav1.UpdateOptions{})
		st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, "data", metav1.CauseType(field.ErrorTypeForbidden))
		// Nor may it become mutable again.
		changed = cm.DeepCopy()
		changed.Immutable = ptr.To(false)
		_, err = cms.Update(ctx(t), changed, metav1.UpdateOptions{})
		st = wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, "immutable", metav1.CauseType(field.ErrorTypeForbidden))
		// A patch is refused just the same.
		_, err = cms.Patch(ctx(t), "frozen", "application/merge-patch+json", []byte(`{"data":{"k":"patched"}}`), metav1.PatchOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		got, _ := cms.Get(ctx(t), "frozen", metav1.GetOptions{})
		if got.Data["k"] != "v" || got.ResourceVersion != cm.ResourceVersion {
			t.Fatalf("immutable ConfigMap changed: %v rv %s", got.Data, got.ResourceVersion)
		}
		// Metadata may still change.
		changed = got.DeepCopy()
		changed.Labels = map[string]string{"a": "b"}
		if _, err := cms.Update(ctx(t), changed, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("label change on an immutable ConfigMap: %v", err)
		}
	})

	t.Run("deployment selector", func(t *testing.T) {
		deps := e.c.AppsV1().Deployments(ns)
		d, err := deps.Create(ctx(t), deployment(ns, "d", 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		changed := d.DeepCopy()
		changed.Spec.Selector.MatchLabels = map[string]string{"app": "d", "x": "y"}
		changed.Spec.Template.Labels = map[string]string{"app": "d", "x": "y"}
		_, err = deps.Update(ctx(t), changed, metav1.UpdateOptions{})
		st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, "spec.selector", metav1.CauseTypeFieldValueInvalid)
	})
}

// badBodyCase is one malformed request body POSTed to a collection.
type badBodyCase struct {
	name        string
	path        string // collection under /api/v1/namespaces/<ns>/
	contentType string
	body        func(ns string) []byte
	code        int
	reason      metav1.StatusReason
	message     string // substring of the Status message
}

func testBadBodies(t *testing.T, e *env) {
	ns := e.namespace(t)
	big := strings.Repeat("x", 3*1024*1024+10)
	cases := []badBodyCase{
		{"malformed JSON", "configmaps", "application/json",
			func(string) []byte { return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"`) },
			400, metav1.StatusReasonBadRequest, ""},
		{"JSON of the wrong shape", "configmaps", "application/json",
			func(string) []byte {
				return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":["a"]}`)
			},
			400, metav1.StatusReasonBadRequest, ""},
		{"malformed YAML", "configmaps", "application/yaml",
			func(string) []byte {
				return []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n")
			},
			400, metav1.StatusReasonBadRequest, ""},
		{"wrong kind", "secrets", "application/json",
			func(string) []byte { return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`) },
			400, metav1.StatusReasonBadRequest, "ConfigMap"},
		{"wrong group", "configmaps", "application/json",
			func(string) []byte {
				return []byte(`{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}`)
			},
			400, metav1.StatusReasonBadRequest, ""},
		{"unknown version", "configmaps", "application/json",
			func(string) []byte { return []byte(`{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}`) },
			400, metav1.StatusReasonBadRequest, ""},
		{"body over 3 MiB", "configmaps", "application/json",
			func(string) []byte {
				return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"` + big + `"}}`)
			},
			413, metav1.StatusReasonRequestEntityTooLarge, "limit is 3145728"},
		{"object in another namespace", "configmaps", "application/json",
			func(string) []byte {
				return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}`)
			},
			400, metav1.StatusReasonBadRequest, "does not match the namespace"},
		{"empty body", "configmaps", "application/json",
			func(string) []byte { return []byte{} },
			400, metav1.StatusReasonBadRequest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, "POST", "/api/v1/namespaces/"+ns+"/"+c.path, c.contentType, c.body(ns))
			st := r.wantStatus(t, c.code, c.reason)
			if !strings.Contains(st.Message, c.message) {
				t.Fatalf("message %q does not contain %q", st.Message, c.message)
			}
			wantEmpty(t, e, ns, c.path)
		})
	}
	t.Run("unsupported content type", func(t *testing.T) {
		r := e.do(t, "POST", "/api/v1/namespaces/"+ns+"/configmaps", "text/plain", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`))
		r.wantStatus(t, 415, metav1.StatusReasonUnsupportedMediaType)
		wantEmpty(t, e, ns, "configmaps")
	})
	t.Run("update with mismatched name", func(t *testing.T) {
		if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "real", map[string]string{"k": "v"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := e.do(t, "PUT", "/api/v1/namespaces/"+ns+"/configmaps/real", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"},"data":{"k":"x"}}`))
		r.wantStatus(t, 400, metav1.StatusReasonBadRequest)
		got, err := e.c.CoreV1().ConfigMaps(ns).Get(ctx(t), "real", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" {
			t.Fatalf("object changed by a refused update: %v %v", got, err)
		}
		_, err = e.c.CoreV1().ConfigMaps(ns).Get(ctx(t), "other", metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})
}

// wantEmpty checks nothing is stored in a namespace's collection.
func wantEmpty(t *testing.T, e *env, ns, resource string) {
	t.Helper()
	r := e.do(t, "GET", "/api/v1/namespaces/"+ns+"/"+resource, "", nil)
	if r.code != 200 || !bytes.Contains(r.body, []byte(`"items":[]`)) {
		t.Fatalf("%s in %s after a rejected request: %d %s", resource, ns, r.code, r.body)
	}
}

func testFieldValidation(t *testing.T, e *env) {
	ns := e.namespace(t)
	deployment := func(name, extra string) []byte {
		return []byte(fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q},"spec":{%s"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`, name, extra))
	}
	collection := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	cases := []struct {
		name       string
		validation string // fieldValidation query value; "" means the default (Warn)
		body       []byte
		code       int
		message    string // Strict: substring of the error; Warn: the warning
	}{
		{"unknown strict", "Strict", deployment("strict", `"foo":1,`), 400, `unknown field "spec.foo"`},
		{"unknown warn", "Warn", deployment("warn", `"foo":1,`), 201, `unknown field "spec.foo"`},
		{"unknown default warns", "", deployment("default", `"foo":1,`), 201, `unknown field "spec.foo"`},
		{"unknown ignore", "Ignore", deployment("ignore", `"foo":1,`), 201, ""},
		{"duplicate strict", "Strict", deployment("dup-strict", `"replicas":1,"replicas":2,`), 400, `duplicate field "spec.replicas"`},
		{"duplicate warn", "Warn", deployment("dup-warn", `"replicas":1,"replicas":2,`), 201, `duplicate field "spec.replicas"`},
		{"unknown metadata field strict", "Strict", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"m","bogus":"x"}}`), 400, `unknown field "metadata.bogus"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := collection
			if strings.Contains(string(c.body), `"kind":"ConfigMap"`) {
				path = "/api/v1/namespaces/" + ns + "/configmaps"
			}
			if c.validation != "" {
				path += "?fieldValidation=" + c.validation
			}
			r := e.do(t, "POST", path, "application/json", c.body)
			warnings := r.header.Values("Warning")
			switch c.code {
			case 400:
				st := r.wantStatus(t, 400, metav1.StatusReasonBadRequest)
				if !strings.Contains(st.Message, c.message) {
					t.Fatalf("message %q does not contain %q", st.Message, c.message)
				}
				if !strings.Contains(st.Message, "strict decoding error") {
					t.Fatalf("message %q lacks upstream's %q prefix", st.Message, "strict decoding error")
				}
				got := e.do(t, "GET", path[:strings.Index(path+"?", "?")], "", nil)
				if bytes.Contains(got.body, []byte(`"name":"strict"`)) || bytes.Contains(got.body, []byte(`"name":"dup-strict"`)) || bytes.Contains(got.body, []byte(`"name":"m"`)) {
					t.Fatalf("a strictly rejected object was stored: %s", got.body)
				}
			case 201:
				if r.code != 201 {
					t.Fatalf("got %d, want 201: %s", r.code, r.body)
				}
				if c.message == "" {
					if len(warnings) != 0 {
						t.Fatalf("fieldValidation=Ignore sent warnings %q", warnings)
					}
					return
				}
				want := fmt.Sprintf("299 - %q", c.message)
				if len(warnings) != 1 || warnings[0] != want {
					t.Fatalf("Warning headers %q, want [%s]", warnings, want)
				}
			}
		})
	}
	t.Run("warnings reach client-go", func(t *testing.T) {
		var buf bytes.Buffer
		rc := e.c.CoreV1().RESTClient()
		res := rc.Post().AbsPath("/api/v1/namespaces/"+ns+"/configmaps").SetHeader("Content-Type", "application/json").
			Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"spec":{}}`)).Do(ctx(t))
		if err := res.Error(); err != nil {
			t.Fatal(err)
		}
		for _, w := range res.Warnings() {
			buf.WriteString(w.Text)
		}
		if buf.String() != `unknown field "spec"` {
			t.Fatalf("client-go saw warnings %q", buf.String())
		}
	})
	t.Run("update and patch strict", func(t *testing.T) {
		cms := "/api/v1/namespaces/" + ns + "/configmaps"
		if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap(ns, "upd", map[string]string{"k": "v"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := e.do(t, "PUT", cms+"/upd?fieldValidation=Strict", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"upd"},"data":{"k":"x"},"extra":1}`))
		st := r.wantStatus(t, 400, metav1.StatusReasonBadRequest)
		if !strings.Contains(st.Message, `unknown field "extra"`) {
			t.Fatalf("update message %q", st.Message)
		}
		r = e.do(t, "PATCH", cms+"/upd?fieldValidation=Strict", "application/merge-patch+json", []byte(`{"data":{"k":"x"},"extra":1}`))
		st = r.wantStatus(t, 400, metav1.StatusReasonBadRequest)
		if !strings.Contains(st.Message, `unknown field "extra"`) {
			t.Fatalf("patch message %q", st.Message)
		}
		got, _ := e.c.CoreV1().ConfigMaps(ns).Get(ctx(t), "upd", metav1.GetOptions{})
		if got.Data["k"] != "v" {
			t.Fatalf("strictly rejected writes changed the object: %v", got.Data)
		}
	})
}

// testBadParameters: malformed query parameters are 400 and change nothing.
func testBadParameters(t *testing.T, e *env) {
	ns := e.namespace(t)
	body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`)
	for _, q := range []string{"fieldValidation=Bogus", "dryRun=Bogus"} {
		r := e.do(t, "POST", "/api/v1/namespaces/"+ns+"/configmaps?"+q, "application/json", body)
		r.wantStatus(t, 400, metav1.StatusReasonBadRequest)
	}
	wantEmpty(t, e, ns, "configmaps")
	for _, q := range []string{"resourceVersion=abc", "limit=abc", "labelSelector=a%20in%20(", "timeoutSeconds=x"} {
		r := e.do(t, "GET", "/api/v1/namespaces/"+ns+"/configmaps?"+q, "", nil)
		if r.code != http.StatusBadRequest {
			t.Errorf("GET ?%s: %d, want 400: %s", q, r.code, r.body)
		}
	}
	// A collection that does not exist, and a resource name with a slash
	// encoded into it.
	r := e.do(t, "GET", "/api/v1/namespaces/"+ns+"/nosuchthings", "", nil)
	r.wantStatus(t, 404, metav1.StatusReasonNotFound)
	r = e.do(t, "GET", "/apis/nosuch.group/v1/things", "", nil)
	r.wantStatus(t, 404, metav1.StatusReasonNotFound)
	// A namespaced kind without its namespace, and a cluster-scoped kind
	// inside one.
	r = e.do(t, "POST", "/api/v1/configmaps", "application/json", body)
	if r.code != 404 && r.code != 405 {
		t.Errorf("POST /api/v1/configmaps: %d: %s", r.code, r.body)
	}
	r = e.do(t, "GET", "/api/v1/namespaces/"+ns+"/nodes/x", "", nil)
	r.wantStatus(t, 404, metav1.StatusReasonNotFound)
}
