package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kite/test/wsecho"
)

// stepIngress checks the built-in ingress every node runs on :80 and :443
// (after stepServices, whose backend Deployment and Service it reuses):
// host and path fan-out to two Services, a wildcard host, the default
// backend, 404, ADDRESS in kubectl get ingress, TLS by SNI seen with
// openssl s_client and a certificate rotated in place, an Ingress of
// another class ignored, a backend deleted under load with no failed
// request once endpoints converge, and a websocket echo.
func stepIngress(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	applyYAML(t, k, ns, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: other}
spec:
  replicas: 1
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers:
      - name: httpd
        image: `+busyboxImage+`
        command: [sh, -c, "mkdir -p /www/b && hostname > /www/name && hostname > /www/b/name && exec httpd -f -p 8080 -h /www"]
        readinessProbe: {httpGet: {path: /name, port: 8080}, periodSeconds: 1}
`)
	k.ok(t, "-n", ns, "rollout", "status", "deployment/other", "--timeout=55s")
	k.ok(t, "-n", ns, "expose", "deployment", "other", "--port", "80", "--target-port", "8080")
	others := strings.Fields(k.jsonpath(t, "{.items[*].metadata.name}", "-n", ns, "get", "pods", "-l", "app=other"))
	backends := backendPods(t, k, ns)

	// kubectl create ingress, as users write it, plus a manifest with the
	// rest: path fan-out, a wildcard host and a default backend.
	k.ok(t, "-n", ns, "create", "ingress", "web", "--rule=a.example.com/*=backend:80")
	applyYAML(t, k, ns, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: fanout}
spec:
  defaultBackend: {service: {name: other, port: {number: 80}}}
  rules:
  - host: b.example.com
    http:
      paths:
      - {path: /b, pathType: Prefix, backend: {service: {name: other, port: {number: 80}}}}
      - {path: /name, pathType: Exact, backend: {service: {name: backend, port: {number: 80}}}}
  - host: "*.wild.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: other, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: elsewhere}
spec:
  ingressClassName: other-controller
  rules:
  - host: ignored.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}
`)
	node1 := c.server.host
	node12 := c.lab.subnet + ".12"
	for _, nodeIP := range []string{node1, node12} {
		base := "http://" + nodeIP
		reachesAll(t, "a.example.com on "+nodeIP, backends, func() []string { return viaIngress(t, base+"/name", "a.example.com", 20) })
		for _, tc := range []struct{ what, path, host string }{
			{"Prefix /b", "/b/name", "b.example.com"},
			{"wildcard host", "/name", "x.wild.example.com"},
			{"default backend", "/name", "unknown.example.com"},
		} {
			reachesAll(t, tc.what+" on "+nodeIP, others, func() []string { return viaIngress(t, base+tc.path, tc.host, 3) })
		}
		reachesAll(t, "Exact /name on b.example.com", backends, func() []string { return viaIngress(t, base+"/name", "b.example.com", 20) })
	}
	// The other class's Ingress is not served: its host falls to the
	// default backend of fanout, not to backend.
	if got := viaIngress(t, "http://"+node1+"/name", "ignored.example.com", 5); !onlyFrom(got, others) {
		t.Errorf("an Ingress of another class was served: %v", got)
	}
	k.ok(t, "-n", ns, "delete", "ingress", "fanout")
	eventually(t, 10*time.Second, "404 without a default backend", func() string {
		if code := statusVia(t, "http://"+node1+"/name", "unknown.example.com"); code != http.StatusNotFound {
			return "status " + strconv.Itoa(code)
		}
		return ""
	})

	// ADDRESS: the nodes' addresses, written by the server.
	nodeIPs := []string{node1, node12}
	slices.Sort(nodeIPs)
	eventually(t, 20*time.Second, "ingress ADDRESS", func() string {
		out := k.ok(t, "-n", ns, "get", "ingress", "web")
		if !strings.Contains(out, strings.Join(nodeIPs, ",")) {
			return out
		}
		return ""
	})
	if got := k.jsonpath(t, "{.status.loadBalancer.ingress[*].ip}", "-n", ns, "get", "ingress", "elsewhere"); got != "" {
		t.Errorf("the other class's Ingress got addresses %q", got)
	}

	// A LoadBalancer cannot take the ingress's port 80: it stays Pending
	// and says why.
	k.ok(t, "-n", ns, "expose", "deployment", "other", "--name", "lb80", "--type", "LoadBalancer", "--port", "80", "--target-port", "8080")
	eventually(t, 20*time.Second, "PortConflict event for lb80", func() string {
		out := k.ok(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=lb80,reason=PortConflict")
		if !strings.Contains(out, "built-in ingress") {
			return out
		}
		return ""
	})
	if got := k.jsonpath(t, "{.status.loadBalancer.ingress}", "-n", ns, "get", "svc", "lb80"); got != "" {
		t.Errorf("LoadBalancer on port 80 got %s while the ingress holds the port", got)
	}

	stepIngressTLS(t, c, ns, node1)
	stepIngressUnderLoad(t, c, ns, node1)
	stepIngressWebsocket(t, c, ns, node12)
}

// stepIngressTLS serves a.example.com with a certificate from a Secret,
// chosen by SNI, then rotates it.
func stepIngressTLS(t *testing.T, c *nodeCluster, ns, nodeIP string) {
	k := c.k
	dir := t.TempDir()
	writeCert(t, dir, "first", "a.example.com")
	k.ok(t, "-n", ns, "create", "secret", "tls", "a-tls", "--cert", filepath.Join(dir, "first.crt"), "--key", filepath.Join(dir, "first.key"))
	k.ok(t, "-n", ns, "patch", "ingress", "web", "--type=merge", "-p", `{"spec":{"tls":[{"hosts":["a.example.com"],"secretName":"a-tls"}]}}`)
	subject := func(serverName string) string {
		r := runCmd(t, 30*time.Second, nil, "", "openssl", "s_client", "-connect", net.JoinHostPort(nodeIP, "443"), "-servername", serverName)
		return r.stdout
	}
	eventually(t, 20*time.Second, "certificate by SNI", func() string {
		if out := subject("a.example.com"); !strings.Contains(out, "O = first") {
			return out
		}
		return ""
	})
	if out := subject("b.example.com"); strings.Contains(out, "O = first") {
		t.Errorf("another host got a.example.com's certificate:\n%s", out)
	}
	// HTTPS reaches the backends.
	got := viaIngress(t, "https://"+nodeIP+"/name", "a.example.com", 3)
	if !onlyFrom(got, backendPods(t, k, ns)) {
		t.Errorf("https://a.example.com/name: %v", got)
	}
	// Rotation: the Secret changes, the proxy serves the new certificate
	// without a restart.
	writeCert(t, dir, "second", "a.example.com")
	secret := k.ok(t, "-n", ns, "create", "secret", "tls", "a-tls", "--cert", filepath.Join(dir, "second.crt"), "--key", filepath.Join(dir, "second.key"), "--dry-run=client", "-o", "yaml")
	k.okStdin(t, secret, "-n", ns, "apply", "-f", "-")
	eventually(t, 20*time.Second, "rotated certificate", func() string {
		if out := subject("a.example.com"); !strings.Contains(out, "O = second") {
			return out
		}
		return ""
	})
}

// stepIngressUnderLoad deletes a backend pod while requests flow through
// the ingress: once the endpoints have converged, no request fails.
func stepIngressUnderLoad(t *testing.T, c *nodeCluster, ns, nodeIP string) {
	k := c.k
	var failures, total atomic.Int64
	var converged atomic.Bool
	var lateFailures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(2 * time.Minute) // bounded whatever happens
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			total.Add(1)
			if _, err := getVia("http://"+nodeIP+"/name", "a.example.com"); err != nil {
				failures.Add(1)
				if converged.Load() {
					lateFailures.Add(1)
				}
			}
		}
	}()
	victim := backendPods(t, k, ns)[0]
	victimIP := k.jsonpath(t, "{.status.podIP}", "-n", ns, "get", "pod", victim)
	k.ok(t, "-n", ns, "delete", "pod", victim, "--wait=true")
	eventually(t, 30*time.Second, "endpoints without "+victim, func() string {
		addrs := k.jsonpath(t, "{.items[*].endpoints[*].addresses[*]}", "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=backend")
		if slices.Contains(strings.Fields(addrs), victimIP) {
			return "still listed: " + addrs
		}
		return ""
	})
	// The proxy rebuilds its table within about a second of a change.
	time.Sleep(2 * time.Second)
	converged.Store(true)
	before := total.Load()
	for wait := time.Now().Add(time.Minute); total.Load() < before+100 && time.Now().Before(wait); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if after := total.Load() - before; after < 100 {
		t.Errorf("only %d requests were sent after the endpoints converged, want 100", after)
	}
	if n := lateFailures.Load(); n > 0 {
		t.Errorf("%d requests failed after the endpoints converged", n)
	}
	t.Logf("under load: %d requests, %d failed while the pod went away", total.Load(), failures.Load())
}

// stepIngressWebsocket routes a websocket through the ingress to an echo
// server the test runs on the lab bridge, behind a selector-less Service.
func stepIngressWebsocket(t *testing.T, c *nodeCluster, ns, nodeIP string) {
	k := c.k
	ln, err := net.Listen("tcp4", c.lab.subnet+".1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: wsecho.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	applyYAML(t, k, ns, `
apiVersion: v1
kind: Service
metadata: {name: ws}
spec:
  ports: [{name: http, port: 80, targetPort: `+port+`}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ws-1
  labels: {kubernetes.io/service-name: ws}
addressType: IPv4
endpoints: [{addresses: [`+c.lab.subnet+`.1], conditions: {ready: true}}]
ports: [{name: http, port: `+port+`, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ws}
spec:
  rules:
  - host: ws.example.com
    http:
      paths:
      - {path: /ws, pathType: Prefix, backend: {service: {name: ws, port: {name: http}}}}
`)
	eventually(t, 20*time.Second, "websocket echo", func() string {
		if err := wsecho.Check("ws://"+nodeIP+"/ws", "ws.example.com", 3*time.Second, "hello"); err != nil {
			return err.Error()
		}
		return ""
	})
}

// viaIngress sends n requests to url with the Host header host (TLS with
// that server name for https) and returns the bodies, or "error: ..." lines.
func viaIngress(t *testing.T, url, host string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		body, err := getVia(url, host)
		if err != nil {
			body = "error: " + err.Error()
		}
		out = append(out, body)
	}
	return out
}

func ingressClient(host string) *http.Client {
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// The test's certificates are self-signed; which one is
			// served is checked with openssl.
			TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true},
		},
	}
}

func getVia(url, host string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := ingressClient(host).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s (Host %s): %s", url, host, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}

func statusVia(t *testing.T, url, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := ingressClient(host).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// writeCert writes a self-signed certificate for host, with org as its
// organisation so a test can tell certificates apart, as dir/org.crt and
// dir/org.key.
func writeCert(t *testing.T, dir, org, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host, Organization: []string{org}},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFileAt(t, filepath.Join(dir, org+".crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFileAt(t, filepath.Join(dir, org+".key"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
}
