package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startServer runs a kubelet API on 127.0.0.1 with certificates from ca,
// serving the given pods and log dir; it stops when the test ends.
func startServer(t *testing.T, ca *testCA, logsDir string, pods []*corev1.Pod) string {
	t.Helper()
	certFile, keyFile, caFile := ca.writeServingFiles(t, t.TempDir())
	s, err := New(Config{CertFile: certFile, KeyFile: keyFile, ClientCA: caFile, PodLogsDir: logsDir, Pods: func() []*corev1.Pod { return pods }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("kubelet server did not stop")
		}
	})
	return "https://" + ln.Addr().String()
}

func TestAuthentication(t *testing.T) {
	ca := newTestCA(t, "cluster-ca")
	other := newTestCA(t, "other-ca")
	base := startServer(t, ca, t.TempDir(), nil)

	adminCert, adminKey := ca.issue(t, "system:admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth)
	mastersCert, mastersKey := ca.issue(t, "someone", []string{"system:masters"}, x509.ExtKeyUsageClientAuth)
	apiCert, apiKey := ca.issue(t, "kube-apiserver-kubelet-client", nil, x509.ExtKeyUsageClientAuth)
	nodeCert, nodeKey := ca.issue(t, "system:node:n1", []string{"system:nodes"}, x509.ExtKeyUsageClientAuth)
	servingCert, servingKey := ca.issue(t, "system:admin", []string{"system:masters"}, x509.ExtKeyUsageServerAuth)
	foreignCert, foreignKey := other.issue(t, "system:admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth)

	tests := []struct {
		name       string
		cert, key  []byte
		path       string
		method     string
		wantCode   int
		wantTLSErr bool
	}{
		{name: "healthz without a certificate", path: "/healthz", wantCode: http.StatusOK},
		{name: "pods without a certificate", path: "/pods", wantCode: http.StatusUnauthorized},
		{name: "logs without a certificate", path: "/containerLogs/ns/p/c", wantCode: http.StatusUnauthorized},
		{name: "admin", cert: adminCert, key: adminKey, path: "/pods", wantCode: http.StatusOK},
		{name: "system:masters member", cert: mastersCert, key: mastersKey, path: "/pods", wantCode: http.StatusOK},
		{name: "API server kubelet client", cert: apiCert, key: apiKey, path: "/pods", wantCode: http.StatusOK},
		{name: "a node may not", cert: nodeCert, key: nodeKey, path: "/pods", wantCode: http.StatusForbidden},
		{name: "a node may not exec", cert: nodeCert, key: nodeKey, path: "/exec/ns/p/c", method: http.MethodPost, wantCode: http.StatusForbidden},
		{name: "a serving certificate is no client identity", cert: servingCert, key: servingKey, path: "/pods", wantTLSErr: true},
		// The client finds its certificate does not fit the server's CA
		// and sends none.
		{name: "another CA's certificate", cert: foreignCert, key: foreignKey, path: "/pods", wantCode: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, base+tt.path, nil)
			resp, err := ca.client(t, tt.cert, tt.key).Do(req)
			if tt.wantTLSErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %d, want the handshake refused", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("got %d (%s), want %d", resp.StatusCode, body, tt.wantCode)
			}
		})
	}
}

func TestPodsAndLogsOverHTTPS(t *testing.T) {
	ca := newTestCA(t, "cluster-ca")
	logs := t.TempDir()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
	dir := filepath.Join(logs, "ns_web_uid-1", "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "0.log"), criLog(logBase, "stdout F first run"))
	appendFile(t, filepath.Join(dir, "1.log"), criLog(logBase.Add(time.Hour), "stdout F a", "stderr F b", "stdout F c"))
	base := startServer(t, ca, logs, []*corev1.Pod{pod})
	cert, key := ca.issue(t, "kube-apiserver-kubelet-client", nil, x509.ExtKeyUsageClientAuth)
	client := ca.client(t, cert, key)

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		path     string
		wantCode int
		want     string
	}{
		{"/containerLogs/ns/web/app", 200, "a\nb\nc\n"},
		{"/containerLogs/ns/web/app?tailLines=1", 200, "c\n"},
		{"/containerLogs/ns/web/app?previous=true", 200, "first run\n"},
		{"/containerLogs/ns/web/app?limitBytes=3", 200, "a\nb"},
		{"/containerLogs/ns/web/app?timestamps=true&tailLines=1", 200, "2024-05-01T11:00:02Z c\n"},
		{"/containerLogs/ns/web/nope", 404, "container \"nope\" not found in pod \"web\"\n"},
		{"/containerLogs/ns/gone/app", 404, "pod \"gone\" does not exist\n"},
		{"/containerLogs/ns/web/app?tailLines=-2", 400, "tailLines: Invalid value: -2: must be greater than or equal to 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := get(tt.path)
			if code != tt.wantCode || body != tt.want {
				t.Errorf("got %d %q, want %d %q", code, body, tt.wantCode, tt.want)
			}
		})
	}

	code, body := get("/pods")
	var list corev1.PodList
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 {
		t.Fatalf("/pods: %d %q: %v", code, body, err)
	}
	if list.Kind != "PodList" || len(list.Items) != 1 || list.Items[0].UID != "uid-1" {
		t.Errorf("/pods = %+v", list)
	}
}
