package ingressstatus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/ingressstatus"
)

type env struct {
	t  *testing.T
	c  kubernetes.Interface
	ns string
}

func (e *env) ctx() context.Context { return context.Background() }

// node creates a Ready node with the given InternalIP and, if not empty,
// ExternalIP.
func (e *env) node(name, internal, external string) {
	e.t.Helper()
	controllertest.ReadyNode(e.t, e.c, name, func(n *corev1.Node) {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: internal}, {Type: corev1.NodeHostName, Address: name}}
		if external != "" {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: external})
		}
	})
}

// setReady posts node name's Ready condition, as its kubelet would.
func (e *env) setReady(name string, ready corev1.ConditionStatus) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := e.c.CoreV1().Nodes().Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, err = e.c.CoreV1().Nodes().UpdateStatus(e.ctx(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("node %s status: %v", name, err)
	}
}

// ingress creates an Ingress routing everything to Service web, changed
// by mutate.
func (e *env) ingress(name string, mutate func(*networkingv1.Ingress)) {
	e.t.Helper()
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
		}},
	}
	if mutate != nil {
		mutate(ing)
	}
	if _, err := e.c.NetworkingV1().Ingresses(e.ns).Create(e.ctx(), ing, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating ingress %s: %v", name, err)
	}
}

func (e *env) updateIngress(name string, change func(*networkingv1.Ingress)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing, err := e.c.NetworkingV1().Ingresses(e.ns).Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(ing)
		_, err = e.c.NetworkingV1().Ingresses(e.ns).Update(e.ctx(), ing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("updating ingress %s: %v", name, err)
	}
}

// publishAs writes ips as Ingress name's status, as the controller
// manager would.
func (e *env) publishAs(manager, name string, ips ...string) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing, err := e.c.NetworkingV1().Ingresses(e.ns).Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ing.Status.LoadBalancer.Ingress = nil
		for _, ip := range ips {
			ing.Status.LoadBalancer.Ingress = append(ing.Status.LoadBalancer.Ingress, networkingv1.IngressLoadBalancerIngress{IP: ip})
		}
		_, err = e.c.NetworkingV1().Ingresses(e.ns).UpdateStatus(e.ctx(), ing, metav1.UpdateOptions{FieldManager: manager})
		return err
	})
	if err != nil {
		e.t.Fatalf("status of ingress %s: %v", name, err)
	}
}

// kiteClass creates or updates IngressClass kite, the default class when
// isDefault.
func (e *env) kiteClass(isDefault bool) {
	e.t.Helper()
	classes := e.c.NetworkingV1().IngressClasses()
	annotations := map[string]string{networkingv1.AnnotationIsDefaultIngressClass: fmt.Sprint(isDefault)}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		class, err := classes.Get(e.ctx(), "kite", metav1.GetOptions{})
		if err != nil {
			_, err = classes.Create(e.ctx(), &networkingv1.IngressClass{
				ObjectMeta: metav1.ObjectMeta{Name: "kite", Annotations: annotations},
				Spec:       networkingv1.IngressClassSpec{Controller: "kite.io/ingress"},
			}, metav1.CreateOptions{})
			return err
		}
		class.Annotations = annotations
		_, err = classes.Update(e.ctx(), class, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("ingress class kite: %v", err)
	}
}

func (e *env) addressesOf(name string) []string {
	e.t.Helper()
	ing, err := e.c.NetworkingV1().Ingresses(e.ns).Get(e.ctx(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var got []string
	for _, in := range ing.Status.LoadBalancer.Ingress {
		got = append(got, in.IP)
	}
	return got
}

// waitAddresses waits until Ingress name's status lists exactly ips.
func (e *env) waitAddresses(name string, ips ...string) {
	e.t.Helper()
	controllertest.Eventually(e.t, fmt.Sprintf("addresses of %s = %v", name, ips), func() (bool, string) {
		got := e.addressesOf(name)
		return slices.Equal(got, ips), fmt.Sprintf("addresses %v", got)
	})
}

// keeps checks that Ingress name still lists exactly ips.
func (e *env) keeps(name string, ips ...string) {
	e.t.Helper()
	if got := e.addressesOf(name); !slices.Equal(got, ips) {
		e.t.Errorf("ingress %s has addresses %v, want %v", name, got, ips)
	}
}

func className(name string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = &name }
}

func TestIntegrationIngressStatus(t *testing.T) {
	s, cc := controllertest.Start(t)
	e := &env{t: t, c: s.Client, ns: controllertest.Namespace(t, s.Client, "ing")}
	e.node("node-b", "10.0.0.2", "203.0.113.2")
	e.node("node-a", "10.0.0.1", "")
	// Another controller's Ingress, published before kite starts.
	e.ingress("other", className("nginx"))
	e.publishAs("nginx-ingress-controller", "other", "192.0.2.10")
	controllertest.Run(t, cc, ingressstatus.New(cc))

	// Class kite and the legacy annotation: the node addresses, sorted,
	// an ExternalIP standing for its node.
	e.ingress("web", className("kite"))
	e.ingress("legacy", func(ing *networkingv1.Ingress) {
		ing.Annotations = map[string]string{networkingv1beta1.AnnotationIngressClass: "kite"}
	})
	e.waitAddresses("web", "10.0.0.1", "203.0.113.2")
	e.waitAddresses("legacy", "10.0.0.1", "203.0.113.2")

	// No class: kite's only while IngressClass kite is the default. The
	// server creates kite as the default, so the flag goes first.
	e.kiteClass(false)
	e.ingress("classless", nil)
	e.ingress("marker", className("kite"))
	e.waitAddresses("marker", "10.0.0.1", "203.0.113.2")
	e.keeps("classless")
	e.kiteClass(true)
	e.waitAddresses("classless", "10.0.0.1", "203.0.113.2")

	// Readiness and node membership move the addresses of every Ingress
	// kite serves.
	e.setReady("node-a", corev1.ConditionFalse)
	e.waitAddresses("web", "203.0.113.2")
	e.waitAddresses("classless", "203.0.113.2")
	e.setReady("node-a", corev1.ConditionTrue)
	e.waitAddresses("web", "10.0.0.1", "203.0.113.2")
	e.node("node-c", "10.0.0.3", "")
	e.waitAddresses("web", "10.0.0.1", "10.0.0.3", "203.0.113.2")
	if err := e.c.CoreV1().Nodes().Delete(e.ctx(), "node-c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitAddresses("web", "10.0.0.1", "203.0.113.2")
	e.waitAddresses("legacy", "10.0.0.1", "203.0.113.2")

	// Addresses overwritten on an Ingress kite serves are put back.
	e.publishAs("someone", "web", "198.51.100.1")
	e.waitAddresses("web", "10.0.0.1", "203.0.113.2")

	// The default flag taken away: the classless Ingress is no longer
	// kite's and loses what kite wrote.
	e.kiteClass(false)
	e.waitAddresses("classless")
	e.keeps("web", "10.0.0.1", "203.0.113.2")

	// Class changed away: cleared. The new class's controller then owns
	// the status, which kite leaves alone from then on.
	e.updateIngress("web", className("traefik"))
	e.waitAddresses("web")
	e.publishAs("traefik", "web", "192.0.2.20")
	e.setReady("node-a", corev1.ConditionFalse)
	e.waitAddresses("legacy", "203.0.113.2")
	e.keeps("web", "192.0.2.20")
	e.keeps("other", "192.0.2.10")

	// A class-less Ingress another controller published while kite was
	// not the default is kite's once kite becomes the default, as the
	// proxy then serves it; what kite wrote goes with the flag.
	e.ingress("adopted", nil)
	e.publishAs("previous-default", "adopted", "192.0.2.30")
	e.keeps("adopted", "192.0.2.30")
	e.kiteClass(true)
	e.waitAddresses("adopted", "203.0.113.2")
	e.kiteClass(false)
	e.waitAddresses("adopted")
	e.keeps("other", "192.0.2.10")
}

// TestIntegrationIngressStatusAcrossTerms checks that an Ingress whose
// class changed while no controller ran (between leadership terms) is
// cleared by the next one, which knows kite wrote it from managedFields.
func TestIntegrationIngressStatusAcrossTerms(t *testing.T) {
	s, cc := controllertest.Start(t)
	e := &env{t: t, c: s.Client, ns: controllertest.Namespace(t, s.Client, "terms")}
	e.node("node-a", "10.0.0.1", "")
	e.ingress("web", className("kite"))
	e.ingress("other", className("nginx"))
	e.publishAs("nginx-ingress-controller", "other", "192.0.2.10")

	term, end := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cc.Run(term, ingressstatus.New(cc))
	}()
	e.waitAddresses("web", "10.0.0.1")
	end()
	<-done

	e.updateIngress("web", className("nginx"))
	controllertest.Run(t, cc, ingressstatus.New(cc))
	e.waitAddresses("web")
	e.keeps("other", "192.0.2.10")
}
