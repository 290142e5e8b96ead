package servicelb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/servicelb"
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

// setReady posts node name's Ready condition, as its kubelet (or the node
// lifecycle controller) would.
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

// service creates a LoadBalancer Service offering ports (TCP).
func (e *env) service(name string, mutate func(*corev1.Service), ports ...int32) *corev1.Service {
	e.t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
		Type:     corev1.ServiceTypeLoadBalancer,
		Selector: map[string]string{"app": name},
	}}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", p), Port: p, TargetPort: intstr.FromInt32(8080)})
	}
	if mutate != nil {
		mutate(svc)
	}
	out, err := e.c.CoreV1().Services(e.ns).Create(e.ctx(), svc, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating service %s: %v", name, err)
	}
	return out
}

func (e *env) updateService(name string, change func(*corev1.Service)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		svc, err := e.c.CoreV1().Services(e.ns).Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(svc)
		_, err = e.c.CoreV1().Services(e.ns).Update(e.ctx(), svc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("updating service %s: %v", name, err)
	}
}

// waitIngress waits until Service name's ingress is exactly ips, each in
// VIP mode.
func (e *env) waitIngress(name string, ips ...string) {
	e.t.Helper()
	controllertest.Eventually(e.t, fmt.Sprintf("ingress of %s = %v", name, ips), func() (bool, string) {
		svc, err := e.c.CoreV1().Services(e.ns).Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP {
				return false, fmt.Sprintf("ingress %+v not in VIP mode", in)
			}
			got = append(got, in.IP)
		}
		return slices.Equal(got, ips), fmt.Sprintf("ingress %v", got)
	})
}

// ingressOf returns Service name's ingress IPs now.
func (e *env) ingressOf(name string) []string {
	e.t.Helper()
	svc, err := e.c.CoreV1().Services(e.ns).Get(e.ctx(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var got []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		got = append(got, in.IP)
	}
	return got
}

// endpointOn is a ready pod endpoint on node.
func endpointOn(node, ip string) discovery.Endpoint {
	ready := true
	return discovery.Endpoint{
		Addresses:  []string{ip},
		NodeName:   &node,
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: "pod-" + node},
		Conditions: discovery.EndpointConditions{Ready: &ready},
	}
}

// slice creates an EndpointSlice of Service name with a ready endpoint on
// node, as the endpointslice controller would.
func (e *env) slice(name, node string) *discovery.EndpointSlice {
	e.t.Helper()
	out, err := e.c.DiscoveryV1().EndpointSlices(e.ns).Create(e.ctx(), &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-x1", Labels: map[string]string{discovery.LabelServiceName: name}},
		AddressType: discovery.AddressTypeIPv4,
		Endpoints:   []discovery.Endpoint{endpointOn(node, "10.42.1.5")},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating endpoint slice of %s: %v", name, err)
	}
	return out
}

func TestIntegrationServiceLB(t *testing.T) {
	s, cc := controllertest.Start(t)
	e := &env{t: t, c: s.Client, ns: controllertest.Namespace(t, s.Client, "lb")}
	e.node("node-a", "10.0.0.1", "")
	e.node("node-b", "10.0.0.2", "203.0.113.2")
	controllertest.Run(t, cc, servicelb.New(cc))

	// The nodes' addresses, an ExternalIP in place of its node's InternalIP.
	e.service("web", nil, 80)
	e.waitIngress("web", "10.0.0.1", "203.0.113.2")

	// A node that stops being Ready stops serving, and serves again when
	// it is back; a node that goes away stops serving.
	e.setReady("node-a", corev1.ConditionFalse)
	e.waitIngress("web", "203.0.113.2")
	e.setReady("node-a", corev1.ConditionTrue)
	e.waitIngress("web", "10.0.0.1", "203.0.113.2")
	e.node("node-c", "10.0.0.3", "")
	e.waitIngress("web", "10.0.0.1", "10.0.0.3", "203.0.113.2")
	if err := e.c.CoreV1().Nodes().Delete(e.ctx(), "node-c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitIngress("web", "10.0.0.1", "203.0.113.2")

	// Once a node opts in, only opted-in nodes serve; without the label
	// all do again.
	controllertest.UpdateNode(t, e.c, "node-b", func(n *corev1.Node) {
		n.Labels = map[string]string{servicelb.EnableLBLabel: "true"}
	})
	e.waitIngress("web", "203.0.113.2")
	controllertest.UpdateNode(t, e.c, "node-b", func(n *corev1.Node) { delete(n.Labels, servicelb.EnableLBLabel) })
	e.waitIngress("web", "10.0.0.1", "203.0.113.2")

	// A younger Service wanting port 80 too stays pending, told why,
	// until the older one is gone.
	e.service("web-copy", nil, 8443, 80)
	var warned string
	controllertest.Eventually(t, "a PortConflict event on web-copy", func() (bool, string) {
		for _, ev := range controllertest.EventsAbout(t, e.c, e.ns, "web-copy") {
			if ev.Reason == servicelb.ReasonPortConflict && ev.Type == corev1.EventTypeWarning {
				warned = ev.Note
				return true, ev.Note
			}
		}
		return false, "no such event"
	})
	want := "port 80/TCP on 10.0.0.1, 203.0.113.2 is held by LoadBalancer Service lb/web"
	if warned != want {
		t.Errorf("event note %q, want %q", warned, want)
	}
	if got := e.ingressOf("web-copy"); len(got) != 0 {
		t.Errorf("web-copy has ingress %v while web holds port 80", got)
	}
	// Another port on the same nodes is no conflict.
	e.service("tls", nil, 443)
	e.waitIngress("tls", "10.0.0.1", "203.0.113.2")
	if got := e.ingressOf("web-copy"); len(got) != 0 {
		t.Errorf("web-copy has ingress %v while web holds port 80", got)
	}
	if err := e.c.CoreV1().Services(e.ns).Delete(e.ctx(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitIngress("web-copy", "10.0.0.1", "203.0.113.2")

	// No longer a LoadBalancer: no ingress; a LoadBalancer again: back.
	e.updateService("tls", func(svc *corev1.Service) {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	})
	e.waitIngress("tls")
	e.updateService("tls", func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeLoadBalancer })
	e.waitIngress("tls", "10.0.0.1", "203.0.113.2")

	// Local external traffic: only the nodes with a ready endpoint, which
	// change with the Service's EndpointSlices.
	e.service("local", func(svc *corev1.Service) {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		// Kite's API server does not allocate it yet; kube-apiserver does.
		svc.Spec.HealthCheckNodePort = 32000
	}, 9000)
	e.waitIngress("local")
	slice := e.slice("local", "node-b")
	e.waitIngress("local", "203.0.113.2")
	slice.Endpoints = append(slice.Endpoints, endpointOn("node-a", "10.42.0.5"))
	if _, err := e.c.DiscoveryV1().EndpointSlices(e.ns).Update(e.ctx(), slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitIngress("local", "10.0.0.1", "203.0.113.2")

	// A Service of another load balancer class is left alone: neither
	// given node addresses nor stripped of what its controller wrote, and
	// it takes no port from ours.
	class := "example.com/other-lb"
	other := e.service("other", func(svc *corev1.Service) { svc.Spec.LoadBalancerClass = &class }, 8080)
	vip := corev1.LoadBalancerIPModeVIP
	other.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10", IPMode: &vip}}
	if _, err := e.c.CoreV1().Services(e.ns).UpdateStatus(e.ctx(), other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.service("alt", nil, 8080)
	e.waitIngress("alt", "10.0.0.1", "203.0.113.2")
	// A node change makes the controller look at every Service again.
	e.setReady("node-a", corev1.ConditionFalse)
	e.waitIngress("alt", "203.0.113.2")
	e.waitIngress("local", "203.0.113.2")
	if got := e.ingressOf("other"); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Errorf("service of another class has ingress %v, want its own [192.0.2.10]", got)
	}
	for _, ev := range controllertest.EventsAbout(t, e.c, e.ns, "other") {
		if ev.ReportingController == servicelb.ControllerName {
			t.Errorf("event about a service of another class: %s %s", ev.Reason, ev.Note)
		}
	}
}

// TestIntegrationServiceLBLabelledPool checks that pooled Services are
// served by their pool only, and that a pool frees the port on the other
// nodes for another Service.
func TestIntegrationServiceLBLabelledPool(t *testing.T) {
	s, cc := controllertest.Start(t)
	e := &env{t: t, c: s.Client, ns: controllertest.Namespace(t, s.Client, "pools")}
	pool := func(name string) func(*corev1.Node) {
		return func(n *corev1.Node) {
			n.Labels = map[string]string{servicelb.EnableLBLabel: "true", servicelb.LBPoolLabel: name}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: map[string]string{"edge": "10.1.0.1", "core": "10.1.0.2"}[name]}}
		}
	}
	controllertest.ReadyNode(t, e.c, "edge", pool("edge"))
	controllertest.ReadyNode(t, e.c, "core", pool("core"))
	e.node("unlabelled", "10.1.0.3", "")
	controllertest.Run(t, cc, servicelb.New(cc))

	inPool := func(name string) func(*corev1.Service) {
		return func(svc *corev1.Service) { svc.Labels = map[string]string{servicelb.LBPoolLabel: name} }
	}
	// Names in creation order: Services created within one second are
	// ranked by name.
	e.service("a-edge", inPool("edge"), 80)
	e.service("b-core", inPool("core"), 80)
	e.service("c-any", nil, 80)
	e.waitIngress("a-edge", "10.1.0.1")
	e.waitIngress("b-core", "10.1.0.2")
	// Both opted-in nodes already carry port 80 of an older Service.
	e.waitIngress("c-any")
	controllertest.Eventually(t, "a PortConflict event on c-any", func() (bool, string) {
		for _, ev := range controllertest.EventsAbout(t, e.c, e.ns, "c-any") {
			if ev.Reason == servicelb.ReasonPortConflict && strings.Contains(ev.Note, "pools/a-edge") && strings.Contains(ev.Note, "pools/b-core") {
				return true, ev.Note
			}
		}
		return false, "no such event"
	})
	if err := e.c.CoreV1().Services(e.ns).Delete(e.ctx(), "b-core", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitIngress("c-any", "10.1.0.2")
	// Dropping the last opt-in label opens every node again.
	for _, n := range []string{"edge", "core"} {
		controllertest.UpdateNode(t, e.c, n, func(n *corev1.Node) { delete(n.Labels, servicelb.EnableLBLabel) })
	}
	e.waitIngress("a-edge", "10.1.0.1", "10.1.0.2", "10.1.0.3")
	e.waitIngress("c-any")
}
