package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestSIGTERMAndRestartKeepsEverything stops a server with SIGTERM, starts
// it again on the same data dir, and checks that every object survived
// unchanged (same uid and resourceVersion). The server also writes its
// kubeconfig with the mode given by --write-kubeconfig-mode.
func TestSIGTERMAndRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{extraArgs: []string{"--write-kubeconfig-mode", "0644"}})
	if fi, err := os.Stat(s.kubeconfig); err != nil {
		t.Fatal(err)
	} else if mode := fi.Mode().Perm(); mode != 0o644 {
		t.Errorf("kubeconfig written with --write-kubeconfig-mode 0644 has mode %#o", mode)
	}

	k := bundledKubectl(t, s)
	k.ok(t, "create", "namespace", "keep")
	k.ok(t, "-n", "keep", "create", "configmap", "c1", "--from-literal=a=1")
	k.ok(t, "-n", "keep", "create", "secret", "generic", "s1", "--from-literal=password=hunter2")
	k.ok(t, "-n", "keep", "create", "deployment", "d1", "--image=registry.local/d:1", "--replicas=3")
	k.ok(t, "-n", "keep", "create", "service", "clusterip", "svc1", "--tcp=80:8080")
	k.ok(t, "-n", "keep", "label", "cm", "c1", "stage=before-restart")
	k.ok(t, "create", "clusterrole", "keep-reader", "--verb=get", "--resource=pods")

	kinds := "namespaces,configmaps,secrets,deployments,services,serviceaccounts,clusterroles,clusterrolebindings,roles,rolebindings,leases,endpoints,endpointslices"
	before := snapshot(t, k, kinds)
	for _, want := range []string{"Namespace//keep", "ConfigMap/keep/c1", "Secret/keep/s1", "Deployment/keep/d1", "Service/keep/svc1", "ClusterRole//keep-reader", "Namespace//default"} {
		if _, ok := before[want]; !ok {
			t.Fatalf("object %s missing before the restart; have %v", want, keys(before))
		}
	}

	start := time.Now()
	if err := s.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := s.waitExit(10 * time.Second)
	if err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
	t.Logf("server stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	log, _ := os.ReadFile(s.logPath)
	if !strings.Contains(string(log), "kite server stopped") {
		t.Errorf("server log has no clean-stop line")
	}

	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, k, kinds)
	for key, b := range before {
		a, ok := after[key]
		switch {
		case !ok:
			t.Errorf("%s lost across the restart", key)
		case a != b:
			t.Errorf("%s changed across the restart: before %s, after %s", key, b, a)
		}
	}
	for key := range after {
		if _, ok := before[key]; !ok {
			t.Logf("new after restart: %s", key)
		}
	}
	wantEqual(t, "secret data after restart", k.jsonpath(t, "{.data.password}", "-n", "keep", "get", "secret", "s1"), "aHVudGVyMg==")
	wantEqual(t, "label after restart", k.jsonpath(t, "{.metadata.labels.stage}", "-n", "keep", "get", "cm", "c1"), "before-restart")
	// The restarted server still takes writes, and resourceVersions go on
	// increasing.
	k.ok(t, "-n", "keep", "create", "configmap", "c2")
	rv1 := k.jsonpath(t, "{.metadata.resourceVersion}", "-n", "keep", "get", "cm", "c1")
	rv2 := k.jsonpath(t, "{.metadata.resourceVersion}", "-n", "keep", "get", "cm", "c2")
	if !numLess(rv1, rv2) {
		t.Errorf("resourceVersion after restart %s is not above the earlier %s", rv2, rv1)
	}
}

func numLess(a, b string) bool {
	var x, y uint64
	fmt.Sscan(a, &x)
	fmt.Sscan(b, &y)
	return x < y && x != 0
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// snapshot maps kind/namespace/name to "uid rv" for every object of kinds.
func snapshot(t *testing.T, k kubectl, kinds string) map[string]string {
	t.Helper()
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name            string `json:"name"`
				Namespace       string `json:"namespace"`
				UID             string `json:"uid"`
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		} `json:"items"`
	}
	out := k.ok(t, "get", kinds, "-A", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding the object list: %v", err)
	}
	m := map[string]string{}
	for _, it := range list.Items {
		identity := "uid=" + it.Metadata.UID
		// Leader election writes its Leases on its own schedule: it
		// releases them at a clean stop and takes them at start.
		if it.Kind != "Lease" {
			identity += " rv=" + it.Metadata.ResourceVersion
		}
		m[it.Kind+"/"+it.Metadata.Namespace+"/"+it.Metadata.Name] = identity
	}
	return m
}

// TestKill9LosesNothingAcknowledged SIGKILLs a server in the middle of a
// stream of creates and checks, after a restart, that every create the
// server acknowledged is there.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.Timeout = 10 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ns = "crash"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Four writers create configmaps until they have tried 200 each or the
	// server is gone; the server is killed once 100 creates succeeded.
	const writers, perWriter, killAfter = 4, 200, 100
	var (
		mu         sync.Mutex
		acked      = map[string]string{} // name -> uid
		killed     bool
		afterKill  int // creates that failed once the kill was sent
		beforeKill []error
		wg         sync.WaitGroup
		killNow    = make(chan struct{})
		killOnce   sync.Once
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				name := fmt.Sprintf("cm-%d-%03d", w, i)
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
					Data:       map[string]string{"writer": fmt.Sprint(w), "seq": fmt.Sprint(i)},
				}
				got, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
				mu.Lock()
				switch {
				case err == nil:
					acked[name] = string(got.UID)
					if len(acked) == killAfter {
						killOnce.Do(func() { close(killNow) })
					}
				case killed:
					afterKill++
				default:
					beforeKill = append(beforeKill, fmt.Errorf("create %s: %w", name, err))
				}
				stop := killed && err != nil // the server is gone
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	select {
	case <-killNow:
	case <-time.After(60 * time.Second):
		t.Fatalf("fewer than %d creates succeeded within 60s (errors: %v)", killAfter, beforeKill)
	}
	mu.Lock()
	killed = true
	mu.Unlock()
	if err := s.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := s.waitExit(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("server did not die of SIGKILL: %v", err)
	}
	wg.Wait()
	for _, err := range beforeKill {
		t.Errorf("a create failed while the server was healthy: %v", err)
	}
	t.Logf("%d creates acknowledged, %d failed after SIGKILL", len(acked), afterKill)

	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	list, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]corev1.ConfigMap{}
	for _, cm := range list.Items {
		have[cm.Name] = cm
	}
	lost := 0
	for name, uid := range acked {
		cm, ok := have[name]
		switch {
		case !ok:
			lost++
			t.Errorf("acknowledged create of %s lost after SIGKILL and restart", name)
		case string(cm.UID) != uid:
			t.Errorf("%s has uid %s after restart, the create returned %s", name, cm.UID, uid)
		}
	}
	t.Logf("after restart: %d configmaps present, %d acknowledged, %d lost", len(have), len(acked), lost)
	// Each one is readable on its own too, with its data.
	for name := range acked {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("get %s after restart: %v", name, err)
			continue
		}
		if cm.Data["writer"] == "" || cm.Data["seq"] == "" {
			t.Errorf("%s lost its data: %v", name, cm.Data)
		}
	}
	// And the server takes new writes.
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-crash"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("create after restart: %v", err)
	}
}

// TestKubeconfigDefaultMode checks the 0600 default of the admin kubeconfig.
func TestKubeconfigDefaultMode(t *testing.T) {
	s := shared(t)
	fi, err := os.Stat(s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("kubeconfig mode %#o, want 0600", mode)
	}
	data, err := os.ReadFile(s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "kubeconfig", string(data), "server: "+s.url(), "client-certificate-data:", "client-key-data:", "certificate-authority-data:")
}

// TestUnauthenticated checks that the API refuses anonymous callers while
// the health endpoints answer them.
func TestUnauthenticated(t *testing.T) {
	s := shared(t)
	client := insecureClient()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(s.url() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/api/v1/namespaces", "/api/v1/namespaces/default/configmaps", "/apis/apps/v1/deployments", "/api", "/apis"} {
		code, body := get(path)
		if code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: status %d, want 401; body %s", path, code, body)
			continue
		}
		var status metav1.Status
		if err := json.Unmarshal([]byte(body), &status); err != nil {
			t.Errorf("anonymous GET %s: body is not a Status: %v\n%s", path, err, body)
			continue
		}
		if status.Kind != "Status" || status.Reason != metav1.StatusReasonUnauthorized || status.Code != 401 {
			t.Errorf("anonymous GET %s: Status %+v, want reason Unauthorized and code 401", path, status)
		}
	}
	for _, path := range []string{"/readyz", "/livez", "/healthz"} {
		code, body := get(path)
		if code != http.StatusOK || body != "ok" {
			t.Errorf("anonymous GET %s: status %d body %q, want 200 ok", path, code, body)
		}
	}
	// Nor may an anonymous caller write.
	req, _ := http.NewRequest(http.MethodPost, s.url()+"/api/v1/namespaces", strings.NewReader(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"anon"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous POST namespace: status %d, want 401", resp.StatusCode)
	}
}
