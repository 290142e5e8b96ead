package apiserver_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kite/internal/joinprotocol"
	"kite/server/auth"
)

// anonymousClient trusts the cluster CA but presents no certificate, as a
// node that has not joined yet.
func anonymousClient(t *testing.T, e *env) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(e.s.Config.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func newCSR(t *testing.T, cn string, dns []string, ips []net.IP) (csrPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// postJoin sends a join request with the Basic auth user and secret.
func postJoin(t *testing.T, e *env, user, secret string, req joinprotocol.NodeRequest) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx(t), http.MethodPost, e.s.Config.Host+"/v1-kite/node", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	if user != "" {
		r.SetBasicAuth(user, secret)
	}
	resp, err := anonymousClient(t, e).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func joinSecret(t *testing.T, e *env) string {
	t.Helper()
	tok, err := joinprotocol.ParseToken(e.s.Running.Token)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Secret
}

// joinNode joins node name with the cluster token and returns a client
// config authenticating with its new client certificate.
func joinNode(t *testing.T, e *env, name string) *rest.Config {
	t.Helper()
	clientCSR, clientKey := newCSR(t, auth.NodeUserPrefix+name, nil, nil)
	servingCSR, _ := newCSR(t, auth.NodeUserPrefix+name, []string{name}, []net.IP{net.ParseIP("10.0.0.5")})
	code, body := postJoin(t, e, "node", joinSecret(t, e), joinprotocol.NodeRequest{
		NodeName: name, NodeIPs: []string{"10.0.0.5"}, ClientCSR: string(clientCSR), ServingCSR: string(servingCSR),
	})
	if code != http.StatusOK {
		t.Fatalf("joining %s: HTTP %d: %s", name, code, body)
	}
	var resp joinprotocol.NodeResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	return &rest.Config{Host: e.s.Config.Host, QPS: -1, TLSClientConfig: rest.TLSClientConfig{
		CAData: []byte(resp.CACert), CertData: []byte(resp.ClientCert), KeyData: clientKey,
	}}
}

// TestIntegrationJoin: the join token's stored form pins the CA that
// /cacerts serves; /v1-kite/node signs a node's certificates only for the
// right secret, and the client certificate then authenticates the node.
func TestIntegrationJoin(t *testing.T) {
	e := startEnv(t)
	secret := joinSecret(t, e)

	t.Run("cacerts", func(t *testing.T) {
		resp, err := anonymousClient(t, e).Get(e.s.Config.Host + "/cacerts")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		caPEM, _ := os.ReadFile(e.s.Config.CAFile)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, caPEM) {
			t.Fatalf("GET /cacerts: %d %q, want the CA bundle", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Kite-CA-HMAC"); got != joinprotocol.CAHMAC(secret, body) {
			t.Fatalf("Kite-CA-HMAC %q, want the HMAC of the body keyed with the secret", got)
		}
		stored, err := os.ReadFile(filepath.Join(e.s.DataDir, "server", "token"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := joinprotocol.ParseToken(strings.TrimSpace(string(stored)))
		if err != nil || strings.TrimSpace(string(stored)) != e.s.Running.Token || tok.CAHash != joinprotocol.CAHash(body) {
			t.Fatalf("stored token %q (%v) does not pin the served CA", stored, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		clientCSR, _ := newCSR(t, "system:node:intruder", nil, nil)
		servingCSR, _ := newCSR(t, "system:node:intruder", []string{"intruder"}, nil)
		req := joinprotocol.NodeRequest{NodeName: "intruder", ClientCSR: string(clientCSR), ServingCSR: string(servingCSR)}
		for _, c := range []struct{ user, secret string }{{"node", "wrong"}, {"node", ""}, {"", ""}, {"admin", secret}, {"node", secret + "x"}} {
			code, body := postJoin(t, e, c.user, c.secret, req)
			var st metav1.Status
			_ = json.Unmarshal(body, &st)
			if code != http.StatusUnauthorized || st.Kind != "Status" || st.Reason != metav1.StatusReasonUnauthorized || st.Message != "invalid join token" {
				t.Fatalf("join as %q/%q: HTTP %d %s; want 401 Unauthorized \"invalid join token\"", c.user, c.secret, code, body)
			}
		}
		// A client certificate request asking for host names.
		req.ClientCSR = string(servingCSR)
		code, body := postJoin(t, e, "node", secret, req)
		if code != http.StatusBadRequest || !strings.Contains(string(body), "clientCSR") {
			t.Fatalf("a bad CSR: HTTP %d %s; want 400 naming clientCSR", code, body)
		}
		nodes, err := e.c.CoreV1().Nodes().List(ctx(t), metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 0 {
			t.Fatalf("refused joins left nodes: %v %v", nodes, err)
		}
	})

	t.Run("node identity", func(t *testing.T) {
		nc, err := kubernetes.NewForConfig(joinNode(t, e, "worker-1"))
		if err != nil {
			t.Fatal(err)
		}
		review, err := nc.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u := review.Status.UserInfo; u.Username != "system:node:worker-1" || !slices.Contains(u.Groups, "system:nodes") {
			t.Fatalf("node user %+v", u)
		}
		if _, err := nc.CoreV1().Nodes().Create(ctx(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("a node registering itself: %v", err)
		}
	})
}
