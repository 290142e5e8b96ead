package join

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func testOptions(t *testing.T, serverURL, token string) Options {
	return Options{
		ServerURL: serverURL,
		Token:     token,
		NodeName:  "node-1",
		NodeIPs:   []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fd00::5")},
		Hostnames: []string{"node-1", "node-1.example.com"},
		Dir:       filepath.Join(t.TempDir(), "agent"),
	}
}

func joinCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestJoin(t *testing.T) {
	for _, form := range []string{"full token", "bare secret"} {
		t.Run(form, func(t *testing.T) {
			peer := newTestPeer(t, "s3cr3t")
			peer.srv.StartTLS()
			token := peer.secret
			if form == "full token" {
				token = peer.fullToken()
				// A full token needs no HMAC: the hash pins the CA.
				peer.sendHMAC = false
			}
			opts := testOptions(t, peer.srv.URL, token)
			creds, err := Join(joinCtx(t), opts)
			if err != nil {
				t.Fatal(err)
			}
			checkCredentials(t, peer, opts, creds)

			// The server saw what the contract says.
			peer.mu.Lock()
			last := peer.last
			peer.mu.Unlock()
			if last.NodeName != "node-1" || !slices.Equal(last.NodeIPs, []string{"10.0.0.5", "fd00::5"}) || !slices.Equal(last.Hostnames, opts.Hostnames) {
				t.Errorf("join request = %+v", last)
			}

			// Joining again keeps the node's keys.
			clientKey := mustRead(t, creds.ClientKey)
			servingKey := mustRead(t, creds.ServingKey)
			oldCert := mustRead(t, creds.ClientCert)
			if _, err := Join(joinCtx(t), opts); err != nil {
				t.Fatal(err)
			}
			if string(mustRead(t, creds.ClientKey)) != string(clientKey) || string(mustRead(t, creds.ServingKey)) != string(servingKey) {
				t.Error("second join replaced the node's keys")
			}
			if string(mustRead(t, creds.ClientCert)) == string(oldCert) {
				t.Error("second join did not write the newly issued certificate")
			}
		})
	}
}

// checkCredentials checks every file Join wrote and that the returned
// client configuration authenticates as the node.
func checkCredentials(t *testing.T, peer *testPeer, opts Options, creds *Credentials) {
	t.Helper()
	if creds.ClusterCIDR != "10.42.0.0/16" || creds.ServiceCIDR != "10.43.0.0/16" || creds.ClusterDNS != "10.43.0.10" || creds.ClusterDomain != "cluster.local" ||
		!slices.Equal(creds.Disabled, []string{"ingress"}) {
		t.Errorf("cluster settings = %+v", creds)
	}
	for name, path := range map[string]string{
		ServerCAFile: creds.ServerCA, ClientCertFile: creds.ClientCert, ClientKeyFile: creds.ClientKey,
		ServingCertFile: creds.ServingCert, ServingKeyFile: creds.ServingKey, KubeconfigFile: creds.Kubeconfig,
	} {
		if path != filepath.Join(opts.Dir, name) {
			t.Errorf("path of %s = %s, want it in %s", name, path, opts.Dir)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	if string(mustRead(t, creds.ServerCA)) != string(peer.caPEM) {
		t.Error("server-ca.crt is not the server's CA")
	}
	client := mustCert(t, creds.ClientCert)
	if client.Subject.CommonName != "system:node:node-1" || !slices.Equal(client.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("client certificate subject = %v", client.Subject)
	}
	serving := mustCert(t, creds.ServingCert)
	if !slices.Equal(serving.DNSNames, opts.Hostnames) || len(serving.IPAddresses) != 2 ||
		!serving.IPAddresses[0].Equal(opts.NodeIPs[0]) || !serving.IPAddresses[1].Equal(opts.NodeIPs[1]) {
		t.Errorf("serving certificate SANs = %v %v", serving.DNSNames, serving.IPAddresses)
	}
	if _, err := tlsPairFromFiles(creds.ServingCert, creds.ServingKey); err != nil {
		t.Errorf("serving certificate and key do not match: %v", err)
	}

	// The kubeconfig and the returned rest.Config both reach the server
	// as the node.
	fromFile, err := clientcmd.BuildConfigFromFlags("", creds.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]*rest.Config{"RestConfig": creds.RestConfig, "kubeconfig": fromFile} {
		if rc.Host != peer.srv.URL {
			t.Errorf("%s host = %s, want %s", name, rc.Host, peer.srv.URL)
		}
		hc, err := rest.HTTPClientFor(rc)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(peer.srv.URL + "/whoami")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "system:node:node-1" {
			t.Errorf("%s authenticates as %d %q, want system:node:node-1", name, resp.StatusCode, body)
		}
	}
}

func TestJoinFailures(t *testing.T) {
	otherCA := sha256.Sum256([]byte("some other CA"))
	tests := []struct {
		name        string
		token       func(p *testPeer) string
		noHMAC      bool
		wantErr     string
		wantPOSTs   int32
		wantNoFiles bool
	}{
		{
			name:    "full token, wrong CA hash",
			token:   func(p *testPeer) string { return "K10" + hex.EncodeToString(otherCA[:]) + "::server:" + p.secret },
			wantErr: "the server's CA does not match the token; check --token and --server",
		},
		{
			name:    "bare secret, wrong secret",
			token:   func(*testPeer) string { return "wrong" },
			wantErr: "the server's CA does not match the token; check --token and --server",
		},
		{
			name:    "bare secret, server sends no HMAC",
			token:   func(p *testPeer) string { return p.secret },
			noHMAC:  true,
			wantErr: "the server's CA does not match the token",
		},
		{
			name: "full token, right CA, wrong secret",
			token: func(p *testPeer) string {
				sum := sha256.Sum256(p.caPEM)
				return "K10" + hex.EncodeToString(sum[:]) + "::server:wrong"
			},
			wantErr:   "the server refused the join token (check --token)",
			wantPOSTs: 1, // a 401 is not retried
		},
		{
			name:    "malformed token",
			token:   func(*testPeer) string { return "K10nope::server:x" },
			wantErr: "want 64",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := newTestPeer(t, "s3cr3t")
			peer.sendHMAC = !tt.noHMAC
			peer.srv.StartTLS()
			opts := testOptions(t, peer.srv.URL, tt.token(peer))
			_, err := Join(joinCtx(t), opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("the failure was retried until the deadline: %v", err)
			}
			if got := peer.joinRequests.Load(); got != tt.wantPOSTs {
				t.Errorf("server got %d join requests, want %d", got, tt.wantPOSTs)
			}
			for _, name := range []string{ServerCAFile, ClientCertFile, KubeconfigFile} {
				if _, err := os.Stat(filepath.Join(opts.Dir, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s written by a failed join (stat: %v)", name, err)
				}
			}
		})
	}
}

func TestJoinBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"http URL", func(o *Options) { o.ServerURL = "http://127.0.0.1:6443" }, "not https"},
		{"no host", func(o *Options) { o.ServerURL = "https://" }, "not https"},
		{"no node name", func(o *Options) { o.NodeName = "" }, "node name"},
		{"no dir", func(o *Options) { o.Dir = "" }, "directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, "https://127.0.0.1:6443", "secret")
			tt.edit(&opts)
			if _, err := Join(joinCtx(t), opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestJoinWaitsForServer starts the server only after the agent began
// trying: connection errors are retried.
func TestJoinWaitsForServer(t *testing.T) {
	peer := newTestPeer(t, "s3cr3t")
	// Take a free port, release it, and start the server there later.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	opts := testOptions(t, "https://"+addr, peer.fullToken())
	done := make(chan error, 1)
	go func() {
		_, err := Join(joinCtx(t), opts)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Join returned before the server existed: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if peer.srv.Listener, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("port %s was taken in the meantime: %v", addr, err)
	}
	// The server also answers 503 twice while "starting".
	peer.unavailable.Store(2)
	peer.srv.StartTLS()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Join did not finish after the server started")
	}
	if got := peer.joinRequests.Load(); got != 3 {
		t.Errorf("server got %d join requests, want 3 (two refused as unavailable)", got)
	}
}

func TestJoinGivesUpWithContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = Join(ctx, testOptions(t, "https://"+addr, "secret"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Errorf("err = %v, want the deadline with the last connection error", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.key")
	key, keyPEM, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	again, _, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Equal(key) {
		t.Error("existing key not reused")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh, _, err := loadOrCreateKey(path)
	if err != nil || fresh.Equal(key) {
		t.Errorf("unusable key file: got err %v, reused %v; want a new key", err, fresh.Equal(key))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(mustRead(t, path))
	if block == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestJoinServerCertificateMismatch reaches the server by a name its
// certificate does not hold: that is reported at once, not retried.
func TestJoinServerCertificateMismatch(t *testing.T) {
	peer := newTestPeer(t, "s3cr3t")
	peer.srv.StartTLS()
	_, port, _ := net.SplitHostPort(peer.srv.Listener.Addr().String())
	opts := testOptions(t, "https://localhost:"+port, peer.fullToken())
	_, err := Join(joinCtx(t), opts)
	if err == nil || !strings.Contains(err.Error(), "does not verify with the cluster CA") || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want an immediate certificate verification error", err)
	}
}
