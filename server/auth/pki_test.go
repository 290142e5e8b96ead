package auth

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testOptions(dir string) PKIOptions {
	return PKIOptions{
		Dir:           dir,
		NodeName:      "node-a",
		NodeIPs:       []net.IP{net.ParseIP("192.168.1.10"), net.ParseIP("fd00::10")},
		ServiceIP:     net.ParseIP("10.43.0.1"),
		ClusterDomain: "cluster.local",
		TLSSANs:       []string{"api.example.com", "203.0.113.7"},
	}
}

func mustEnsure(t *testing.T, opts PKIOptions) *PKI {
	t.Helper()
	p, err := EnsurePKI(opts)
	if err != nil {
		t.Fatalf("EnsurePKI: %v", err)
	}
	return p
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
	cert, err := readCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verifyName checks that cert chains to ca and is valid for name, exactly
// as a TLS client dialing that name would.
func verifyName(cert, ca *x509.Certificate, name string, usage x509.ExtKeyUsage) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func TestServingCertSANs(t *testing.T) {
	p := mustEnsure(t, testOptions(t.TempDir()))
	serving := mustCert(t, p.ServingCertFile)
	etcdCA := mustCert(t, p.EtcdCAFile)
	etcdServer := mustCert(t, p.EtcdServerCertFile)

	tests := []struct {
		name   string
		cert   *x509.Certificate
		ca     *x509.Certificate
		host   string
		usage  x509.ExtKeyUsage
		wantOK bool
	}{
		{"api localhost", serving, p.CA, "localhost", x509.ExtKeyUsageServerAuth, true},
		{"api ipv4 loopback", serving, p.CA, "127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"api ipv6 loopback", serving, p.CA, "::1", x509.ExtKeyUsageServerAuth, true},
		{"api node ip", serving, p.CA, "192.168.1.10", x509.ExtKeyUsageServerAuth, true},
		{"api node ipv6", serving, p.CA, "fd00::10", x509.ExtKeyUsageServerAuth, true},
		{"api node name", serving, p.CA, "node-a", x509.ExtKeyUsageServerAuth, true},
		{"api kubernetes", serving, p.CA, "kubernetes", x509.ExtKeyUsageServerAuth, true},
		{"api kubernetes.default", serving, p.CA, "kubernetes.default", x509.ExtKeyUsageServerAuth, true},
		{"api kubernetes.default.svc", serving, p.CA, "kubernetes.default.svc", x509.ExtKeyUsageServerAuth, true},
		{"api fqdn", serving, p.CA, "kubernetes.default.svc.cluster.local", x509.ExtKeyUsageServerAuth, true},
		{"api service ip", serving, p.CA, "10.43.0.1", x509.ExtKeyUsageServerAuth, true},
		{"api tls-san name", serving, p.CA, "api.example.com", x509.ExtKeyUsageServerAuth, true},
		{"api tls-san ip", serving, p.CA, "203.0.113.7", x509.ExtKeyUsageServerAuth, true},
		{"api unknown name", serving, p.CA, "evil.example.com", x509.ExtKeyUsageServerAuth, false},
		{"api not from etcd CA", serving, etcdCA, "localhost", x509.ExtKeyUsageServerAuth, false},
		{"etcd localhost", etcdServer, etcdCA, "localhost", x509.ExtKeyUsageServerAuth, true},
		{"etcd loopback", etcdServer, etcdCA, "127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"etcd node ip", etcdServer, etcdCA, "192.168.1.10", x509.ExtKeyUsageServerAuth, true},
		{"etcd node name", etcdServer, etcdCA, "node-a", x509.ExtKeyUsageServerAuth, true},
		{"etcd as peer client", etcdServer, etcdCA, "192.168.1.10", x509.ExtKeyUsageClientAuth, true},
		{"etcd not from cluster CA", etcdServer, p.CA, "localhost", x509.ExtKeyUsageServerAuth, false},
		{"etcd lacks tls-san", etcdServer, etcdCA, "api.example.com", x509.ExtKeyUsageServerAuth, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyName(tt.cert, tt.ca, tt.host, tt.usage)
			if (err == nil) != tt.wantOK {
				t.Fatalf("verify %s: err=%v, want ok=%v", tt.host, err, tt.wantOK)
			}
		})
	}
}

func TestEnsurePKIStable(t *testing.T) {
	opts := testOptions(t.TempDir())
	first := mustEnsure(t, opts)
	files := []string{
		first.CAFile, first.CAKeyFile, first.ServingCertFile, first.ServingKeyFile,
		first.AdminCertFile, first.AdminKeyFile, first.EtcdCAFile, first.EtcdCAKeyFile,
		first.EtcdServerCertFile, first.EtcdServerKeyFile, first.EtcdClientCertFile,
		first.EtcdClientKeyFile, first.ServiceAccountKeyFile,
	}
	before := map[string][]byte{}
	for _, f := range files {
		before[f] = mustRead(t, f)
	}
	second := mustEnsure(t, opts)
	if !second.CA.Equal(first.CA) {
		t.Fatal("CA changed between two EnsurePKI calls")
	}
	for _, f := range files {
		if !bytes.Equal(before[f], mustRead(t, f)) {
			t.Errorf("%s changed although nothing in the options changed", filepath.Base(f))
		}
	}
}

func TestFileModes(t *testing.T) {
	p := mustEnsure(t, testOptions(t.TempDir()))
	tests := []struct {
		path string
		mode os.FileMode
	}{
		{p.Dir, 0o700 | os.ModeDir},
		{filepath.Dir(p.EtcdCAFile), 0o700 | os.ModeDir},
		{p.CAKeyFile, 0o600},
		{p.ServingKeyFile, 0o600},
		{p.AdminKeyFile, 0o600},
		{p.EtcdCAKeyFile, 0o600},
		{p.EtcdServerKeyFile, 0o600},
		{p.EtcdClientKeyFile, 0o600},
		{p.ServiceAccountKeyFile, 0o600},
		{p.CAFile, 0o644},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			st, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != tt.mode {
				t.Fatalf("mode %v, want %v", st.Mode(), tt.mode)
			}
		})
	}
}

func TestReissue(t *testing.T) {
	tests := []struct {
		name string
		// change alters the options or the files between two EnsurePKI calls.
		change      func(t *testing.T, p *PKI, opts *PKIOptions)
		wantServing bool // serving cert re-issued
		wantAdmin   bool // admin cert re-issued
	}{
		{
			name:        "new tls-san",
			change:      func(_ *testing.T, _ *PKI, o *PKIOptions) { o.TLSSANs = append(o.TLSSANs, "new.example.com") },
			wantServing: true,
		},
		{
			name:        "new node ip",
			change:      func(_ *testing.T, _ *PKI, o *PKIOptions) { o.NodeIPs = append(o.NodeIPs, net.ParseIP("192.168.1.11")) },
			wantServing: true,
		},
		{
			name:   "removed tls-san keeps cert",
			change: func(_ *testing.T, _ *PKI, o *PKIOptions) { o.TLSSANs = o.TLSSANs[:1] },
		},
		{
			name:   "same san in other case and form keeps cert",
			change: func(_ *testing.T, _ *PKI, o *PKIOptions) { o.TLSSANs = []string{"API.example.com", " 203.0.113.7 "} },
		},
		{
			name: "admin cert near expiry",
			change: func(t *testing.T, p *PKI, _ *PKIOptions) {
				// Issued as if 335 days ago: 30 days left, inside the 90-day window.
				spec := certSpec{commonName: adminUser, orgs: []string{adminGroup}, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
				certPEM, keyPEM, err := issueLeaf(p.CA, p.CAKey, spec, time.Now().Add(-335*24*time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				writeTestPair(t, p.AdminCertFile, p.AdminKeyFile, certPEM, keyPEM)
			},
			wantAdmin: true,
		},
		{
			name: "admin key replaced",
			change: func(t *testing.T, p *PKI, _ *PKIOptions) {
				key, err := newKey()
				if err != nil {
					t.Fatal(err)
				}
				keyPEM, err := encodeKeyPEM(key)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p.AdminKeyFile, keyPEM, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantAdmin: true,
		},
		{
			name: "serving cert deleted",
			change: func(t *testing.T, p *PKI, _ *PKIOptions) {
				if err := os.Remove(p.ServingCertFile); err != nil {
					t.Fatal(err)
				}
			},
			wantServing: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			first := mustEnsure(t, opts)
			caBytes := mustRead(t, first.CAFile)
			caKeyBytes := mustRead(t, first.CAKeyFile)
			serving := mustRead(t, first.ServingCertFile)
			admin := mustRead(t, first.AdminCertFile)

			tt.change(t, first, &opts)
			adminAfterChange := mustRead(t, first.AdminCertFile)
			second := mustEnsure(t, opts)

			if !bytes.Equal(caBytes, mustRead(t, second.CAFile)) || !bytes.Equal(caKeyBytes, mustRead(t, second.CAKeyFile)) {
				t.Fatal("CA must never be regenerated")
			}
			if got := !bytes.Equal(serving, mustRead(t, second.ServingCertFile)); got != tt.wantServing {
				t.Errorf("serving cert re-issued=%v, want %v", got, tt.wantServing)
			}
			if got := !bytes.Equal(adminAfterChange, mustRead(t, second.AdminCertFile)); got != tt.wantAdmin {
				t.Errorf("admin cert re-issued=%v, want %v", got, tt.wantAdmin)
			}
			if !tt.wantAdmin && !bytes.Equal(admin, mustRead(t, second.AdminCertFile)) {
				t.Error("admin cert changed")
			}

			// Whatever happened, the result must be a coherent, verifiable set.
			want, err := apiServerSANs(opts)
			if err != nil {
				t.Fatal(err)
			}
			cert := mustCert(t, second.ServingCertFile)
			if !want.coveredBy(cert) {
				t.Errorf("serving cert SANs %v %v do not cover %v %v", cert.DNSNames, cert.IPAddresses, want.dns, want.ips)
			}
			key, err := readKey(second.AdminKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			spec := certSpec{commonName: adminUser, orgs: []string{adminGroup}, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if problem := leafProblem(mustCert(t, second.AdminCertFile), key, second.CA, spec, time.Now()); problem != "" {
				t.Errorf("admin cert after EnsurePKI: %s", problem)
			}
		})
	}
}

func writeTestPair(t *testing.T, certPath, keyPath string, certPEM, keyPEM []byte) {
	t.Helper()
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCAFailures(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, p *PKI)
		wantErr bool
	}{
		{
			name: "CA key missing is an error",
			change: func(t *testing.T, p *PKI) {
				if err := os.Remove(p.CAKeyFile); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: true,
		},
		{
			name: "CA key without cert (crash during creation) is recreated",
			change: func(t *testing.T, p *PKI) {
				if err := os.Remove(p.CAFile); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "corrupt CA cert is an error",
			change: func(t *testing.T, p *PKI) {
				if err := os.WriteFile(p.CAFile, []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			p := mustEnsure(t, opts)
			tt.change(t, p)
			_, err := EnsurePKI(opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err=%v, wantErr=%v", err, tt.wantErr)
			}
		})
	}
}

func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *PKIOptions)
	}{
		{"no dir", func(o *PKIOptions) { o.Dir = "" }},
		{"bad tls-san", func(o *PKIOptions) { o.TLSSANs = []string{"not a name"} }},
		{"tls-san url", func(o *PKIOptions) { o.TLSSANs = []string{"https://api.example.com:6443"} }},
		{"bad node name", func(o *PKIOptions) { o.NodeName = "node_a" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			tt.change(&opts)
			if _, err := EnsurePKI(opts); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestIssueClientCert(t *testing.T) {
	p := mustEnsure(t, testOptions(t.TempDir()))
	tests := []struct {
		name    string
		cn      string
		orgs    []string
		wantErr bool
	}{
		{"node", "system:node:node-a", []string{"system:nodes"}, false},
		{"no groups", "alice", nil, false},
		{"two groups", "bob", []string{"dev", "ops"}, false},
		{"empty cn", "", []string{"x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := p.IssueClientCert(tt.cn, tt.orgs)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err=%v, wantErr=%v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			cert, err := parseCertPEM(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			key, err := parseKeyPEM(keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cert.Verify(x509.VerifyOptions{Roots: p.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Fatalf("client cert does not verify against the CA: %v", err)
			}
			spec := certSpec{commonName: tt.cn, orgs: tt.orgs, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if problem := leafProblem(cert, key, p.CA, spec, time.Now()); problem != "" {
				t.Fatal(problem)
			}
		})
	}
}
