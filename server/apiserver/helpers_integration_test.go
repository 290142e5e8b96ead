package apiserver_test

// Shared helpers of the integration tests: each *_integration_test.go file
// starts one server in its top-level TestIntegration... function and runs
// its cases as subtests against it, each in a namespace of its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"kite/server/servertest"
)

// env is one running test server with the clients the tests use.
type env struct {
	s    *servertest.Server
	c    kubernetes.Interface
	http *http.Client // authenticated as the admin, for raw requests
}

func startEnv(t *testing.T) *env {
	t.Helper()
	return envFor(t, servertest.Start(t))
}

func envFor(t *testing.T, s *servertest.Server) *env {
	t.Helper()
	hc, err := rest.HTTPClientFor(s.Config)
	if err != nil {
		t.Fatalf("HTTP client: %v", err)
	}
	return &env{s: s, c: s.Client, http: hc}
}

var nsCounter atomic.Int64

// namespace creates a fresh namespace for one test case.
func (e *env) namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(sanitize(t.Name())))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if _, err := e.c.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// ctx is a per-call deadline so a hung server fails a test rather than
// the whole run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// rawResponse is the outcome of a request made without client-go's typed
// layer, to send exactly the bytes a test wants.
type rawResponse struct {
	code   int
	header http.Header
	body   []byte
}

// do sends a request to the API server; headers come in name, value pairs.
func (e *env) do(t *testing.T, method, path, contentType string, body []byte, headers ...string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx(t), method, e.s.Config.Host+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return rawResponse{code: resp.StatusCode, header: resp.Header, body: data}
}

// status decodes the response body as a metav1.Status.
func (r rawResponse) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("response (%d) is not a Status: %v: %s", r.code, err, r.body)
	}
	return st
}

// wantStatus checks a raw response's code and, for failures, that the body
// is a Status with that code and reason.
func (r rawResponse) wantStatus(t *testing.T, code int, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	if r.code != code {
		t.Fatalf("got HTTP %d, want %d: %s", r.code, code, r.body)
	}
	st := r.status(t)
	if int(st.Code) != code || st.Reason != reason || st.Status != metav1.StatusFailure {
		t.Fatalf("got Status code=%d reason=%q status=%q, want code=%d reason=%q: %s", st.Code, st.Reason, st.Status, code, reason, r.body)
	}
	return st
}

// wantAPIError checks that err is an API error with the given code and
// reason and returns its Status.
func wantAPIError(t *testing.T, err error, code int32, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %s", code, reason)
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		t.Fatalf("got %T %v, want an API status error %d %s", err, err, code, reason)
	}
	st := se.Status()
	if st.Code != code || st.Reason != reason {
		t.Fatalf("got code=%d reason=%q (%s), want code=%d reason=%q", st.Code, st.Reason, st.Message, code, reason)
	}
	return st
}

// causeFields lists the field paths of a Status's causes, sorted.
func causeFields(st metav1.Status) []string {
	var out []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			out = append(out, c.Field)
		}
	}
	sort.Strings(out)
	return out
}

// wantCause checks that the Status names field among its causes with the
// given cause type ("" for any).
func wantCause(t *testing.T, st metav1.Status, field string, typ metav1.CauseType) {
	t.Helper()
	if st.Details == nil {
		t.Fatalf("Status has no details, want a cause for %s: %+v", field, st)
	}
	for _, c := range st.Details.Causes {
		if c.Field == field && (typ == "" || c.Type == typ) {
			return
		}
	}
	t.Fatalf("Status causes %+v do not name field %q (type %q)", st.Details.Causes, field, typ)
}

// eventually polls cond until it holds or the deadline passes; for things
// that are eventual by design (watch delivery, informer sync).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rv parses a resourceVersion, failing the test on anything but a positive
// integer (kite's resourceVersion is the etcd revision).
func rv(t *testing.T, v string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 || fmt.Sprint(n) != v {
		t.Fatalf("resourceVersion %q is not a positive integer", v)
	}
	return n
}

func configMap(ns, name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func podDisruptionBudget(ns, name string) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		},
	}
}
