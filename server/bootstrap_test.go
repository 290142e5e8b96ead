package server_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/ingress"
	"kite/server"
	"kite/server/servertest"
)

// TestBootstrapServices checks the Services every cluster starts with: the
// kubernetes Service at this server, kube-dns with the cluster DNS
// address unless DNS is disabled, and the default IngressClass kite unless
// the ingress is.
func TestBootstrapServices(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t)
	k8s, err := s.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k8s.Spec.ClusterIP != "10.43.0.1" || k8s.Spec.Ports[0].Port != 443 {
		t.Errorf("kubernetes Service: clusterIP %s ports %v", k8s.Spec.ClusterIP, k8s.Spec.Ports)
	}
	dns, err := s.Client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, server.DNSServiceName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dns.Spec.ClusterIP != "10.43.0.10" || dns.Labels["k8s-app"] != "kube-dns" || dns.Spec.Selector != nil {
		t.Errorf("kube-dns Service: clusterIP %s labels %v selector %v", dns.Spec.ClusterIP, dns.Labels, dns.Spec.Selector)
	}
	want := map[string]corev1.Protocol{"dns": corev1.ProtocolUDP, "dns-tcp": corev1.ProtocolTCP}
	for _, p := range dns.Spec.Ports {
		if want[p.Name] != p.Protocol || p.Port != 53 {
			t.Errorf("kube-dns port %+v", p)
		}
		delete(want, p.Name)
	}
	if len(want) != 0 {
		t.Errorf("kube-dns lacks ports %v", want)
	}

	// A user's change survives a restart: the Service is created once.
	dns.Labels["team"] = "infra"
	if _, err := s.Client.CoreV1().Services(metav1.NamespaceSystem).Update(ctx, dns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	again, err := servertest.StartIn(s.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if got, err := again.Client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, server.DNSServiceName, metav1.GetOptions{}); err != nil || got.Labels["team"] != "infra" {
		t.Errorf("after a restart: %v, labels %v", err, got.Labels)
	}

	// The built-in ingress's class, the cluster default.
	class, err := again.Client.NetworkingV1().IngressClasses().Get(ctx, ingress.ClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if class.Spec.Controller != ingress.ControllerName || !ingress.IsDefaultClass(class) {
		t.Errorf("IngressClass kite: controller %q annotations %v", class.Spec.Controller, class.Annotations)
	}

	off := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = []string{"dns", "ingress"} })
	if _, err := off.Client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, server.DNSServiceName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("with dns disabled: %v, want NotFound", err)
	}
	if _, err := off.Client.NetworkingV1().IngressClasses().Get(ctx, ingress.ClassName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("with ingress disabled: IngressClass %v, want NotFound", err)
	}
}
