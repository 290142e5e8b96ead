package apiserver_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeletserver "kite/agent/kubelet/server"
	"kite/server/auth"
)

// TestIntegrationKubeletProxy points a Node at a real kubelet API server
// (started here on 127.0.0.1 over a directory of CRI log files) and reads
// logs and node proxy paths through the API server, as kubectl does.
func TestIntegrationKubeletProxy(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	k := startKubelet(t, e, "kubelet-node")
	t.Run("logs", func(t *testing.T) { testPodLogs(t, e, k) })
	t.Run("follow", func(t *testing.T) { testPodLogsFollow(t, e, k) })
	t.Run("container choice", func(t *testing.T) { testPodLogsContainerChoice(t, e, k) })
	t.Run("node proxy", func(t *testing.T) { testNodeProxy(t, e, k) })
	t.Run("discovery", func(t *testing.T) { testKubeletSubresourceDiscovery(t, e) })
}

// kubelet is a kubelet API server with the pods it claims to run.
type kubelet struct {
	node    string
	logsDir string
	pods    chan []*corev1.Pod // holds the current list
}

func (k *kubelet) list() []*corev1.Pod {
	pods := <-k.pods
	k.pods <- pods
	return pods
}

func (k *kubelet) add(p *corev1.Pod) {
	pods := <-k.pods
	k.pods <- append(slices.Clone(pods), p)
}

func startKubelet(t *testing.T, e *env, nodeName string) *kubelet {
	t.Helper()
	pki := e.s.Running.PKI
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	writeServingCert(t, pki, certFile, keyFile, net.ParseIP("127.0.0.1"))
	k := &kubelet{node: nodeName, logsDir: filepath.Join(dir, "pods"), pods: make(chan []*corev1.Pod, 1)}
	k.pods <- nil
	srv, err := kubeletserver.New(kubeletserver.Config{CertFile: certFile, KeyFile: keyFile, ClientCA: pki.CAFile, PodLogsDir: k.logsDir, Pods: k.list})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("kubelet server did not stop")
		}
	})

	node, err := e.c.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: nodeName}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(ln.Addr().(*net.TCPAddr).Port)
	if _, err := e.c.CoreV1().Nodes().UpdateStatus(context.Background(), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return k
}

// writeServingCert signs a kubelet serving certificate with the cluster CA.
func writeServingCert(t *testing.T, pki *auth.PKI, certFile, keyFile string, ip net.IP) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kubelet"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{ip},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.CA, &key.PublicKey, pki.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var logStart = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// criLines renders "stream tag message" entries as CRI log lines.
func criLines(at time.Time, entries ...string) string {
	var b strings.Builder
	for i, entry := range entries {
		fmt.Fprintf(&b, "%s %s\n", at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), entry)
	}
	return b.String()
}

// runPod creates a pod on the kubelet's node, tells the kubelet it runs it
// (each container running in restart restarts[name]) and writes one log
// file per run from logs[name][run].
func runPod(t *testing.T, e *env, k *kubelet, ns string, pod *corev1.Pod, logs map[string][]string) *corev1.Pod {
	t.Helper()
	pod.Spec.NodeName = k.node
	created, err := e.c.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	running := created.DeepCopy()
	for _, c := range created.Spec.Containers {
		runs := logs[c.Name]
		running.Status.ContainerStatuses = append(running.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, RestartCount: int32(max(len(runs)-1, 0)),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		})
		dir := filepath.Join(k.logsDir, fmt.Sprintf("%s_%s_%s", ns, created.Name, created.UID), c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for run, content := range runs {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.log", run)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	k.add(running)
	return created
}

func simplePod(name string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "busybox:1.36"})
	}
	return p
}

func getLogs(t *testing.T, e *env, ns, pod string, opts *corev1.PodLogOptions) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Stream, as kubectl logs reads: errors come back as the API's Status.
	stream, err := e.c.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer stream.Close()
	data, err := io.ReadAll(stream)
	return string(data), err
}

func testPodLogs(t *testing.T, e *env, k *kubelet) {
	ns := e.namespace(t)
	runPod(t, e, k, ns, simplePod("web", "app"), map[string][]string{"app": {
		criLines(logStart, "stdout F first run", "stderr F crashed"),
		criLines(logStart.Add(time.Hour), "stdout F one", "stdout P tw", "stdout F o", "stderr F three"),
	}})
	tests := []struct {
		name string
		opts corev1.PodLogOptions
		want string
	}{
		{"all", corev1.PodLogOptions{}, "one\ntwo\nthree\n"},
		{"tail", corev1.PodLogOptions{TailLines: ptr.To[int64](2)}, "two\nthree\n"},
		{"previous", corev1.PodLogOptions{Previous: true}, "first run\ncrashed\n"},
		{"limit bytes", corev1.PodLogOptions{LimitBytes: ptr.To[int64](5)}, "one\nt"},
		{"timestamps", corev1.PodLogOptions{Timestamps: true, TailLines: ptr.To[int64](1)}, "2024-05-01T11:00:03Z three\n"},
		{"since time", corev1.PodLogOptions{SinceTime: &metav1.Time{Time: logStart.Add(time.Hour + 2*time.Second)}}, "three\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := getLogs(t, e, ns, "web", &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		errTests := []struct {
			name    string
			pod     string
			opts    corev1.PodLogOptions
			check   func(error) bool
			message string
		}{
			{"bad tail", "web", corev1.PodLogOptions{TailLines: ptr.To[int64](-1)}, apierrors.IsInvalid, "tailLines: Invalid value: -1: must be greater than or equal to 0"},
			{"unknown container", "web", corev1.PodLogOptions{Container: "nope"}, apierrors.IsBadRequest, "container nope is not valid for pod web"},
			{"no pod", "missing", corev1.PodLogOptions{}, apierrors.IsNotFound, `pods "missing" not found`},
		}
		for _, tt := range errTests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := getLogs(t, e, ns, tt.pod, &tt.opts)
				if !tt.check(err) || !strings.Contains(err.Error(), tt.message) {
					t.Fatalf("got %v, want an error containing %q", err, tt.message)
				}
			})
		}
	})

	t.Run("no previous run", func(t *testing.T) {
		runPod(t, e, k, ns, simplePod("fresh", "app"), map[string][]string{"app": {criLines(logStart, "stdout F only")}})
		_, err := getLogs(t, e, ns, "fresh", &corev1.PodLogOptions{Previous: true})
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `previous terminated container "app" in pod "fresh" not found`) {
			t.Fatalf("got %v", err)
		}
	})
}

func testPodLogsFollow(t *testing.T, e *env, k *kubelet) {
	ns := e.namespace(t)
	pod := runPod(t, e, k, ns, simplePod("tailer", "app"), map[string][]string{"app": {criLines(logStart, "stdout F existing")}})
	logFile := filepath.Join(k.logsDir, fmt.Sprintf("%s_%s_%s", ns, pod.Name, pod.UID), "app", "0.log")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := e.c.CoreV1().Pods(ns).GetLogs("tailer", &corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](1)}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	lines := bufio.NewReader(stream)
	readLine := func() string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			l, _ := lines.ReadString('\n')
			got <- l
		}()
		select {
		case l := <-got:
			return l
		case <-time.After(15 * time.Second):
			t.Fatal("no line arrived while following")
			return ""
		}
	}
	if l := readLine(); l != "existing\n" {
		t.Fatalf("first line %q", l)
	}
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, msg := range []string{"later", "much later"} {
		if _, err := f.WriteString(criLines(logStart.Add(time.Duration(i+1)*time.Minute), "stdout F "+msg)); err != nil {
			t.Fatal(err)
		}
		if l := readLine(); l != msg+"\n" {
			t.Fatalf("followed line %q, want %q", l, msg)
		}
	}
}

func testPodLogsContainerChoice(t *testing.T, e *env, k *kubelet) {
	ns := e.namespace(t)
	runPod(t, e, k, ns, simplePod("pair", "a", "b"), map[string][]string{
		"a": {criLines(logStart, "stdout F from a")},
		"b": {criLines(logStart, "stdout F from b")},
	})
	_, err := getLogs(t, e, ns, "pair", &corev1.PodLogOptions{})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "a container name must be specified for pod pair, choose one of: [a b]") {
		t.Fatalf("got %v", err)
	}
	if got, err := getLogs(t, e, ns, "pair", &corev1.PodLogOptions{Container: "b"}); err != nil || got != "from b\n" {
		t.Fatalf("container b: %q, %v", got, err)
	}

	annotated := simplePod("annotated", "a", "b")
	annotated.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "b"}
	runPod(t, e, k, ns, annotated, map[string][]string{
		"a": {criLines(logStart, "stdout F from a")},
		"b": {criLines(logStart, "stdout F from b")},
	})
	if got, err := getLogs(t, e, ns, "annotated", &corev1.PodLogOptions{}); err != nil || got != "from b\n" {
		t.Fatalf("default container: %q, %v", got, err)
	}
}

func testNodeProxy(t *testing.T, e *env, k *kubelet) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nodes := e.c.CoreV1().RESTClient().Get().Resource("nodes").Name(k.node).SubResource("proxy")
	health, err := nodes.Suffix("healthz").DoRaw(ctx)
	if err != nil || string(health) != "ok" {
		t.Fatalf("healthz through the node proxy: %q, %v", health, err)
	}
	data, err := e.c.CoreV1().RESTClient().Get().Resource("nodes").Name(k.node).SubResource("proxy").Suffix("pods").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var list corev1.PodList
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("decoding %q: %v", data, err)
	}
	if len(list.Items) != len(k.list()) {
		t.Errorf("kubelet /pods through the proxy listed %d pods, the kubelet runs %d", len(list.Items), len(k.list()))
	}
	_, err = e.c.CoreV1().RESTClient().Get().Resource("nodes").Name("no-such-node").SubResource("proxy").Suffix("healthz").DoRaw(ctx)
	if !apierrors.IsNotFound(err) {
		t.Errorf("proxy to a missing node: %v, want NotFound", err)
	}
}

func testKubeletSubresourceDiscovery(t *testing.T, e *env) {
	list, err := e.c.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pods/log": "Pod", "pods/exec": "PodExecOptions", "pods/attach": "PodAttachOptions",
		"pods/portforward": "PodPortForwardOptions", "nodes/proxy": "NodeProxyOptions",
	}
	for _, r := range list.APIResources {
		if kind, ok := want[r.Name]; ok {
			if r.Kind != kind {
				t.Errorf("%s has kind %s, want %s", r.Name, r.Kind, kind)
			}
			delete(want, r.Name)
		}
	}
	for name := range want {
		t.Errorf("discovery lacks %s", name)
	}
}
