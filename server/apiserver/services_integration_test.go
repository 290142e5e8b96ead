package apiserver_test

import (
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestIntegrationServices(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	t.Run("cluster IP allocation", func(t *testing.T) { testClusterIPAllocation(t, e) })
	t.Run("requested cluster IPs", func(t *testing.T) { testRequestedClusterIP(t, e) })
	t.Run("node ports", func(t *testing.T) { testNodePorts(t, e) })
	t.Run("release", func(t *testing.T) { testServiceRelease(t, e) })
	t.Run("updates keep allocations", func(t *testing.T) { testServiceUpdates(t, e) })
}

var serviceCIDR = func() *net.IPNet { _, n, _ := net.ParseCIDR("10.43.0.0/16"); return n }()

func testClusterIPAllocation(t *testing.T, e *env) {
	ns := e.namespace(t)
	kube, err := e.c.CoreV1().Services("default").Get(ctx(t), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if kube.Spec.ClusterIP != "10.43.0.1" {
		t.Fatalf("kubernetes service has %s, want the first service IP 10.43.0.1", kube.Spec.ClusterIP)
	}
	seen := map[string]bool{kube.Spec.ClusterIP: true}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		svc, err := e.c.CoreV1().Services(ns).Create(ctx(t), service(ns, name), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip := net.ParseIP(svc.Spec.ClusterIP)
		if ip == nil || !serviceCIDR.Contains(ip) || ip.Equal(net.ParseIP("10.43.0.0")) || ip.Equal(net.ParseIP("10.43.255.255")) {
			t.Fatalf("%s got cluster IP %q outside the usable 10.43.0.0/16", name, svc.Spec.ClusterIP)
		}
		if seen[svc.Spec.ClusterIP] {
			t.Fatalf("cluster IP %s handed out twice", svc.Spec.ClusterIP)
		}
		seen[svc.Spec.ClusterIP] = true
		if len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
			t.Fatalf("clusterIPs %v, clusterIP %s", svc.Spec.ClusterIPs, svc.Spec.ClusterIP)
		}
		if len(svc.Spec.IPFamilies) != 1 || svc.Spec.IPFamilies[0] != corev1.IPv4Protocol || svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
			t.Fatalf("ip families %v policy %v", svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy)
		}
		if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.SessionAffinity != corev1.ServiceAffinityNone || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP || svc.Spec.Ports[0].TargetPort.IntVal != 80 {
			t.Fatalf("service not defaulted: %+v", svc.Spec)
		}
	}
	// Headless and ExternalName services get no IP.
	headless := service(ns, "headless")
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	svc, err := e.c.CoreV1().Services(ns).Create(ctx(t), headless, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "None" || len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != "None" {
		t.Fatalf("headless: %s %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	svc, err = e.c.CoreV1().Services(ns).Create(ctx(t), ext, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "" || len(svc.Spec.ClusterIPs) != 0 {
		t.Fatalf("ExternalName got %s %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	// A dry run shows no IP taken.
	dry, err := e.c.CoreV1().Services(ns).Create(ctx(t), service(ns, "dry"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Spec.ClusterIP != "" && seen[dry.Spec.ClusterIP] {
		t.Fatalf("dry run answered with the taken IP %s", dry.Spec.ClusterIP)
	}
}

func testRequestedClusterIP(t *testing.T, e *env) {
	ns := e.namespace(t)
	svcs := e.c.CoreV1().Services(ns)
	cases := []struct {
		name, ip string
		message  string
	}{
		{"in use", "10.43.0.1", "already allocated"},
		{"outside the range", "10.44.0.5", "not in the valid range"},
		{"network address", "10.43.0.0", ""},
		{"not an IP", "10.43.0.300", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := service(ns, "svc")
			s.Spec.ClusterIP = c.ip
			_, err := svcs.Create(ctx(t), s, metav1.CreateOptions{})
			st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
			if c.message != "" {
				wantCause(t, st, "spec.clusterIPs[0]", metav1.CauseTypeFieldValueInvalid)
				if !strings.Contains(st.Message, c.message) {
					t.Fatalf("message %q lacks %q", st.Message, c.message)
				}
			} else if len(causeFields(st)) == 0 || !strings.HasPrefix(causeFields(st)[0], "spec.clusterIP") {
				t.Fatalf("causes %v", causeFields(st))
			}
			_, err = svcs.Get(ctx(t), "svc", metav1.GetOptions{})
			wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		})
	}
	t.Run("free IP", func(t *testing.T) {
		s := service(ns, "fixed")
		s.Spec.ClusterIP = "10.43.200.7"
		got, err := svcs.Create(ctx(t), s, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.ClusterIP != "10.43.200.7" || got.Spec.ClusterIPs[0] != "10.43.200.7" {
			t.Fatalf("got %s %v", got.Spec.ClusterIP, got.Spec.ClusterIPs)
		}
		// Asking for it again: taken.
		again := service(ns, "fixed2")
		again.Spec.ClusterIP = "10.43.200.7"
		_, err = svcs.Create(ctx(t), again, metav1.CreateOptions{})
		st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, "spec.clusterIPs[0]", metav1.CauseTypeFieldValueInvalid)
	})
}

func testNodePorts(t *testing.T, e *env) {
	ns := e.namespace(t)
	svcs := e.c.CoreV1().Services(ns)
	np := service(ns, "np")
	np.Spec.Type = corev1.ServiceTypeNodePort
	np.Spec.Ports = append(np.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443})
	got, err := svcs.Create(ctx(t), np, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ports := map[int32]bool{}
	for _, p := range got.Spec.Ports {
		if p.NodePort < 30000 || p.NodePort > 32767 || ports[p.NodePort] {
			t.Fatalf("node ports %+v", got.Spec.Ports)
		}
		ports[p.NodePort] = true
	}
	lb := service(ns, "lb")
	lb.Spec.Type = corev1.ServiceTypeLoadBalancer
	got, err = svcs.Create(ctx(t), lb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Spec.Ports[0].NodePort; p < 30000 || p > 32767 || ports[p] {
		t.Fatalf("LoadBalancer node port %d", p)
	}
	used := got.Spec.Ports[0].NodePort

	cases := []struct {
		name string
		port int32
		msg  string
	}{
		{"below the range", 80, "provided port is not in the valid range. The range of valid ports is 30000-32767"},
		{"above the range", 32768, "not in the valid range"},
		{"in use", used, "provided port is already allocated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := service(ns, "bad")
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = c.port
			_, err := svcs.Create(ctx(t), s, metav1.CreateOptions{})
			st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
			wantCause(t, st, "spec.ports[0].nodePort", metav1.CauseTypeFieldValueInvalid)
			if !strings.Contains(st.Message, c.msg) {
				t.Fatalf("message %q lacks %q", st.Message, c.msg)
			}
			_, err = svcs.Get(ctx(t), "bad", metav1.GetOptions{})
			wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		})
	}
	t.Run("requested free port", func(t *testing.T) {
		s := service(ns, "fixed")
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = 31234
		got, err := svcs.Create(ctx(t), s, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.Ports[0].NodePort != 31234 {
			t.Fatalf("got node port %d", got.Spec.Ports[0].NodePort)
		}
	})
	t.Run("health check node port", func(t *testing.T) {
		// A LoadBalancer with the Local policy gets one, kept across
		// updates and freed when the policy changes.
		s := service(ns, "local")
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		got, err := svcs.Create(ctx(t), s, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hc := got.Spec.HealthCheckNodePort
		if hc < 30000 || hc > 32767 || hc == got.Spec.Ports[0].NodePort {
			t.Fatalf("health check node port %d (node port %d)", hc, got.Spec.Ports[0].NodePort)
		}
		got.Spec.Ports[0].Port = 8080
		if got, err = svcs.Update(ctx(t), got, metav1.UpdateOptions{}); err != nil || got.Spec.HealthCheckNodePort != hc {
			t.Fatalf("after update: health check node port %d, %v; want %d kept", got.Spec.HealthCheckNodePort, err, hc)
		}
		got.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		got.Spec.HealthCheckNodePort = 0
		if _, err = svcs.Update(ctx(t), got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Freed: another Service may ask for it.
		again := service(ns, "takes-hc")
		again.Spec.Type = corev1.ServiceTypeNodePort
		again.Spec.Ports[0].NodePort = hc
		if _, err := svcs.Create(ctx(t), again, metav1.CreateOptions{}); err != nil {
			t.Fatalf("port %d not freed: %v", hc, err)
		}
	})
	t.Run("node port on a ClusterIP service", func(t *testing.T) {
		s := service(ns, "cip")
		s.Spec.Ports[0].NodePort = 31000
		_, err := svcs.Create(ctx(t), s, metav1.CreateOptions{})
		st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, "spec.ports[0].nodePort", "")
	})
}

// testServiceRelease: deleting a Service, or failing to create one, frees
// what it held.
func testServiceRelease(t *testing.T, e *env) {
	ns := e.namespace(t)
	svcs := e.c.CoreV1().Services(ns)
	s := service(ns, "svc")
	s.Spec.Type = corev1.ServiceTypeNodePort
	s.Spec.ClusterIP = "10.43.201.1"
	s.Spec.Ports[0].NodePort = 31500
	if _, err := svcs.Create(ctx(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx(t), "svc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := s.DeepCopy()
	again.Name = "svc-again"
	if _, err := svcs.Create(ctx(t), again, metav1.CreateOptions{}); err != nil {
		t.Fatalf("IP and port not released by the delete: %v", err)
	}
	// A Service held by a finalizer releases its IP when it finally goes.
	held := service(ns, "held")
	held.Spec.ClusterIP = "10.43.201.9"
	held.Finalizers = []string{"kite.io/hold"}
	if _, err := svcs.Create(ctx(t), held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx(t), "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Patch(ctx(t), "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	reuse := service(ns, "reuse")
	reuse.Spec.ClusterIP = "10.43.201.9"
	if _, err := svcs.Create(ctx(t), reuse, metav1.CreateOptions{}); err != nil {
		t.Fatalf("IP of a finalized Service not released: %v", err)
	}
	// A create that fails validation after allocation releases it.
	bad := service(ns, "bad")
	bad.Spec.ClusterIP = "10.43.201.2"
	bad.Spec.Ports[0].Name = "Not_A_Valid_Name"
	_, err := svcs.Create(ctx(t), bad, metav1.CreateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
	good := service(ns, "good")
	good.Spec.ClusterIP = "10.43.201.2"
	if _, err := svcs.Create(ctx(t), good, metav1.CreateOptions{}); err != nil {
		t.Fatalf("IP kept by a failed create: %v", err)
	}
	// A dry run takes nothing.
	dry := service(ns, "dry")
	dry.Spec.ClusterIP = "10.43.201.3"
	if _, err := svcs.Create(ctx(t), dry, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	dry.Name = "real"
	if _, err := svcs.Create(ctx(t), dry, metav1.CreateOptions{}); err != nil {
		t.Fatalf("IP kept by a dry run: %v", err)
	}
	// A dry-run delete keeps it.
	if err := svcs.Delete(ctx(t), "real", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	dup := service(ns, "dup")
	dup.Spec.ClusterIP = "10.43.201.3"
	_, err = svcs.Create(ctx(t), dup, metav1.CreateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
}

func testServiceUpdates(t *testing.T, e *env) {
	ns := e.namespace(t)
	svcs := e.c.CoreV1().Services(ns)
	created, err := svcs.Create(ctx(t), service(ns, "svc"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A replace that leaves clusterIP out keeps it (as kubectl replace
	// of a manifest does).
	replaced := service(ns, "svc")
	replaced.ResourceVersion = created.ResourceVersion
	replaced.Spec.Selector = map[string]string{"app": "other"}
	got, err := svcs.Update(ctx(t), replaced, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("replace without clusterIP: %v", err)
	}
	if got.Spec.ClusterIP != created.Spec.ClusterIP {
		t.Fatalf("cluster IP %s → %s", created.Spec.ClusterIP, got.Spec.ClusterIP)
	}
	// ClusterIP → NodePort allocates node ports.
	got, err = svcs.Patch(ctx(t), "svc", types.MergePatchType, []byte(`{"spec":{"type":"NodePort"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := got.Spec.Ports[0].NodePort
	if port < 30000 || port > 32767 {
		t.Fatalf("node port %d after switching to NodePort", port)
	}
	// NodePort → ClusterIP drops the node port and frees it.
	got, err = svcs.Patch(ctx(t), "svc", types.MergePatchType, []byte(`{"spec":{"type":"ClusterIP"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("ClusterIP service kept node port %d", got.Spec.Ports[0].NodePort)
	}
	other := service(ns, "other")
	other.Spec.Type = corev1.ServiceTypeNodePort
	other.Spec.Ports[0].NodePort = port
	if _, err := svcs.Create(ctx(t), other, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node port %d not released when the type changed: %v", port, err)
	}
}
