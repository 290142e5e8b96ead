package join

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/internal/joinprotocol"
)

// testPeer is the server side of the join protocol, written from the
// contract, with its own test CA.
type testPeer struct {
	t      *testing.T
	secret string
	caPEM  []byte
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	srv    *httptest.Server

	sendHMAC     bool         // set the Kite-CA-HMAC header
	unavailable  atomic.Int32 // answer this many joins with 503 first
	joinRequests atomic.Int32

	mu   sync.Mutex
	last joinprotocol.NodeRequest
}

func newTestPeer(t *testing.T, secret string) *testPeer {
	t.Helper()
	p := &testPeer{t: t, secret: secret, sendHMAC: true}
	p.caKey = mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kite-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /cacerts", p.serveCACerts)
	mux.HandleFunc("POST /v1-kite/node", p.serveJoin)
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(r.TLS.VerifiedChains[0][0].Subject.CommonName))
	})
	p.srv = httptest.NewUnstartedServer(mux)
	servingKey := mustKey(t)
	servingDER := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kite-test-server"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, &servingKey.PublicKey)
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	p.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{servingDER}, PrivateKey: servingKey}},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}
	t.Cleanup(p.srv.Close)
	return p
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign issues tmpl for pub from the test CA.
func (p *testPeer) sign(tmpl *x509.Certificate, pub any) []byte {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Minute)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, pub, p.caKey)
	if err != nil {
		p.t.Error(err)
	}
	return der
}

// fullToken is the K10 form the server prints.
func (p *testPeer) fullToken() string {
	sum := sha256.Sum256(p.caPEM)
	return "K10" + hex.EncodeToString(sum[:]) + "::server:" + p.secret
}

func (p *testPeer) serveCACerts(w http.ResponseWriter, _ *http.Request) {
	if p.sendHMAC {
		mac := hmac.New(sha256.New, []byte(p.secret))
		mac.Write(p.caPEM)
		w.Header().Set(joinprotocol.CAHMACHeader, hex.EncodeToString(mac.Sum(nil)))
	}
	w.Write(p.caPEM)
}

func (p *testPeer) serveJoin(w http.ResponseWriter, r *http.Request) {
	p.joinRequests.Add(1)
	if user, pass, ok := r.BasicAuth(); !ok || user != "node" || pass != p.secret {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "invalid join token")
		return
	}
	if p.unavailable.Add(-1) >= 0 {
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "still starting")
		return
	}
	var req joinprotocol.NodeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	p.mu.Lock()
	p.last = req
	p.mu.Unlock()
	clientCSR, err1 := parseCSR(req.ClientCSR)
	servingCSR, err2 := parseCSR(req.ServingCSR)
	if err1 != nil || err2 != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad CSR")
		return
	}
	client := p.sign(&x509.Certificate{Subject: clientCSR.Subject, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, clientCSR.PublicKey)
	serving := p.sign(&x509.Certificate{
		Subject: servingCSR.Subject, DNSNames: servingCSR.DNSNames, IPAddresses: servingCSR.IPAddresses,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, servingCSR.PublicKey)
	json.NewEncoder(w).Encode(joinprotocol.NodeResponse{
		ClientCert:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client})),
		ServingCert:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serving})),
		CACert:        string(p.caPEM),
		ClusterCIDR:   "10.42.0.0/16",
		ServiceCIDR:   "10.43.0.0/16",
		ClusterDNS:    "10.43.0.10",
		ClusterDomain: "cluster.local",
		Disabled:      []string{"ingress"},
	})
}

func parseCSR(s string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errNoPEM
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	return csr, csr.CheckSignature()
}

var errNoPEM = errors.New("no PEM block")

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg,
	})
}

func tlsPairFromFiles(certFile, keyFile string) (tls.Certificate, error) {
	return tls.LoadX509KeyPair(certFile, keyFile)
}
