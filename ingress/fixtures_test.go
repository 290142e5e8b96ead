package ingress

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var fixtureEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type ingressOption func(*networkingv1.Ingress)

// newIngress makes an Ingress created ageMinutes before the others' epoch
// (larger is older).
func newIngress(ns, name string, ageMinutes int, opts ...ingressOption) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name),
		CreationTimestamp: metav1.NewTime(fixtureEpoch.Add(-time.Duration(ageMinutes) * time.Minute)),
	}}
	for _, o := range opts {
		o(ing)
	}
	return ing
}

func className(c string) ingressOption {
	return func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To(c) }
}

func annotation(k, v string) ingressOption {
	return func(i *networkingv1.Ingress) {
		if i.Annotations == nil {
			i.Annotations = map[string]string{}
		}
		i.Annotations[k] = v
	}
}

func serviceBackend(service string, port any) networkingv1.IngressBackend {
	ref := networkingv1.ServiceBackendPort{}
	switch p := port.(type) {
	case int:
		ref.Number = int32(p)
	case string:
		ref.Name = p
	}
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: service, Port: ref}}
}

// rule adds one path rule; port is an int (number) or a string (name).
func rule(host, path string, pathType networkingv1.PathType, service string, port any) ingressOption {
	return func(i *networkingv1.Ingress) {
		p := networkingv1.HTTPIngressPath{Path: path, PathType: ptr.To(pathType), Backend: serviceBackend(service, port)}
		for n := range i.Spec.Rules {
			if i.Spec.Rules[n].Host == host {
				i.Spec.Rules[n].HTTP.Paths = append(i.Spec.Rules[n].HTTP.Paths, p)
				return
			}
		}
		i.Spec.Rules = append(i.Spec.Rules, networkingv1.IngressRule{Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{p}}}})
	}
}

func defaultBackend(service string, port any) ingressOption {
	return func(i *networkingv1.Ingress) {
		b := serviceBackend(service, port)
		i.Spec.DefaultBackend = &b
	}
}

func tlsFor(secret string, hosts ...string) ingressOption {
	return func(i *networkingv1.Ingress) {
		i.Spec.TLS = append(i.Spec.TLS, networkingv1.IngressTLS{Hosts: hosts, SecretName: secret})
	}
}

func kiteClass(isDefault bool) *networkingv1.IngressClass {
	c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: ClassName}}
	if isDefault {
		c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	}
	return c
}

// newService makes a Service with one TCP port; targetPort may be an int or a name.
func newService(ns, name, portName string, port int32, targetPort any) *corev1.Service {
	tp := intstr.FromInt32(port)
	switch v := targetPort.(type) {
	case int:
		tp = intstr.FromInt(v)
	case string:
		tp = intstr.FromString(v)
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: portName, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: tp},
		}},
	}
}

type endpointState int

const (
	epReady endpointState = iota
	epNotReady
	epServingTerminating
)

// newSlice makes an EndpointSlice of service with one port and the given addresses.
func newSlice(ns, service, sliceName, portName string, port int32, state endpointState, addrs ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sliceName,
			Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(port)}},
	}
	for _, a := range addrs {
		c := discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}
		switch state {
		case epNotReady:
			c = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)}
		case epServingTerminating:
			c = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: c})
	}
	return s
}

// newTLSSecret makes a kubernetes.io/tls Secret holding a fresh self-signed
// certificate for hosts, and returns the certificate too.
func newTLSSecret(t *testing.T, ns, name string, hosts ...string) (*corev1.Secret, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}, cert
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestProxy makes a Proxy over a fake clientset holding objs, listening
// on loopback only.
func newTestProxy(t testing.TB, log *slog.Logger, objs ...runtime.Object) (*Proxy, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	return newTestProxyConfig(t, Config{Logger: log}, objs...)
}

// newTestProxyConfig is newTestProxy with cfg's logging settings.
func newTestProxyConfig(t testing.TB, cfg Config, objs ...runtime.Object) (*Proxy, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objs...)
	recorder := record.NewFakeRecorder(100)
	cfg.Client, cfg.Recorder = client, recorder
	cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0"
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, client, recorder
}

// startController syncs the informers and builds the table once, without listening.
func startController(t testing.TB, objs ...runtime.Object) (*Proxy, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	p, client, recorder := newTestProxy(t, discardLogger(), objs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(func() {
		cancel()
		p.watch.shutdown()
	})
	if !p.watch.run(ctx) {
		t.Fatal("informers did not sync")
	}
	p.rebuild()
	return p, client, recorder
}

// drainEvents returns the events recorded so far.
func drainEvents(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func eventsWithReason(events []string, reason string) []string {
	var out []string
	for _, e := range events {
		if strings.HasPrefix(e, "Warning "+reason+" ") {
			out = append(out, e)
		}
	}
	return out
}

var createOpts = metav1.CreateOptions{}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var updateOpts = metav1.UpdateOptions{}
