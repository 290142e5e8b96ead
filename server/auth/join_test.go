package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"kite/internal/joinprotocol"
)

func newJoiner(t *testing.T) *NodeJoiner {
	t.Helper()
	p := mustEnsure(t, testOptions(t.TempDir()))
	j, err := NewNodeJoiner(p, joinprotocol.Token{Secret: "s3cret"}, ClusterNetwork{ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", Disabled: []string{"dns"}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrPEM(t *testing.T, key crypto.Signer, subject pkix.Name, dns []string, ips []net.IP) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject, DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func parsePEMCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	c, err := parseCertPEM([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func validJoin(t *testing.T) joinprotocol.NodeRequest {
	return joinprotocol.NodeRequest{
		NodeName:   "worker-1",
		NodeIPs:    []string{"10.0.0.5"},
		Hostnames:  []string{"worker-1.example.com"},
		ClientCSR:  csrPEM(t, ecKey(t), pkix.Name{CommonName: "system:node:worker-1", Organization: []string{"system:nodes"}}, nil, nil),
		ServingCSR: csrPEM(t, ecKey(t), pkix.Name{CommonName: "system:node:worker-1"}, []string{"worker-1", "worker-1.example.com"}, []net.IP{net.ParseIP("10.0.0.5")}),
	}
}

func TestJoinSignsNodeCertificates(t *testing.T) {
	j := newJoiner(t)
	resp, err := j.Join(validJoin(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.CACert != string(j.CAPEM()) || resp.ClusterCIDR != "10.42.0.0/16" || resp.ServiceCIDR != "10.43.0.0/16" || resp.ClusterDNS != "10.43.0.10" || resp.ClusterDomain != "cluster.local" ||
		!slices.Equal(resp.Disabled, []string{"dns"}) {
		t.Fatalf("cluster settings in the response: %+v", resp)
	}
	roots := x509.NewCertPool()
	roots.AddCert(j.ca)

	client := parsePEMCert(t, resp.ClientCert)
	if client.Subject.CommonName != "system:node:worker-1" || !slices.Equal(client.Subject.Organization, []string{"system:nodes"}) {
		t.Fatalf("client certificate subject %v", client.Subject)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate does not verify for client auth: %v", err)
	}
	if d := time.Until(client.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Fatalf("client certificate valid for %s, want a year", d)
	}

	serving := parsePEMCert(t, resp.ServingCert)
	for _, name := range []string{"worker-1", "worker-1.example.com"} {
		if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Fatalf("serving certificate does not verify for %s: %v", name, err)
		}
	}
	if err := serving.VerifyHostname("10.0.0.5"); err != nil {
		t.Fatalf("serving certificate lacks the node IP: %v", err)
	}
	if slices.Contains(serving.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(client.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Fatal("certificates must be for one purpose each")
	}
}

func TestJoinRefusesBadRequests(t *testing.T) {
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*joinprotocol.NodeRequest)
		want   string
	}{
		{"bad node name", func(r *joinprotocol.NodeRequest) { r.NodeName = "Worker_1" }, "not a valid node name"},
		{"bad IP", func(r *joinprotocol.NodeRequest) { r.NodeIPs = []string{"10.0.0.300"} }, "not an IP address"},
		{"bad host name", func(r *joinprotocol.NodeRequest) { r.Hostnames = []string{"a b"} }, "not a valid host name"},
		{"client CSR of another node", func(r *joinprotocol.NodeRequest) {
			r.ClientCSR = csrPEM(t, ecKey(t), pkix.Name{CommonName: "system:node:worker-2"}, nil, nil)
		}, `common name must be "system:node:worker-1"`},
		{"client CSR asking for admin", func(r *joinprotocol.NodeRequest) {
			r.ClientCSR = csrPEM(t, ecKey(t), pkix.Name{CommonName: "system:node:worker-1", Organization: []string{"system:masters"}}, nil, nil)
		}, "organization may only be"},
		{"client CSR with SANs", func(r *joinprotocol.NodeRequest) {
			r.ClientCSR = csrPEM(t, ecKey(t), pkix.Name{CommonName: "system:node:worker-1"}, []string{"worker-1"}, nil)
		}, "may not ask for subject alternative names"},
		{"serving CSR for a foreign name", func(r *joinprotocol.NodeRequest) {
			r.ServingCSR = csrPEM(t, ecKey(t), pkix.Name{CommonName: "system:node:worker-1"}, []string{"kubernetes.default.svc"}, nil)
		}, `DNS name "kubernetes.default.svc"`},
		{"serving CSR for a foreign IP", func(r *joinprotocol.NodeRequest) {
			r.ServingCSR = csrPEM(t, ecKey(t), pkix.Name{CommonName: "system:node:worker-1"}, nil, []net.IP{net.ParseIP("10.43.0.1")})
		}, "IP address 10.43.0.1"},
		{"weak RSA key", func(r *joinprotocol.NodeRequest) {
			r.ClientCSR = csrPEM(t, rsaSmall, pkix.Name{CommonName: "system:node:worker-1"}, nil, nil)
		}, "at least 2048 bits"},
		{"not PEM", func(r *joinprotocol.NodeRequest) { r.ServingCSR = "hello" }, "not a PEM CERTIFICATE REQUEST"},
		{"tampered CSR", func(r *joinprotocol.NodeRequest) {
			block, _ := pem.Decode([]byte(r.ClientCSR))
			block.Bytes[len(block.Bytes)-5] ^= 0xff
			r.ClientCSR = string(pem.EncodeToMemory(block))
		}, "clientCSR"},
	}
	j := newJoiner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validJoin(t)
			tt.change(&req)
			_, err := j.Join(req)
			if err == nil || !IsInvalidJoin(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Join() error = %v, want an invalid-join error containing %q", err, tt.want)
			}
		})
	}
}

func TestJoinerChecksSecretAndSignsCA(t *testing.T) {
	j := newJoiner(t)
	if !j.Authorized("s3cret") || j.Authorized("wrong") || j.Authorized("") {
		t.Fatal("Authorized must accept only the secret")
	}
	if j.CAHMAC() != joinprotocol.CAHMAC("s3cret", j.CAPEM()) {
		t.Fatal("CAHMAC must be keyed with the secret")
	}
}
