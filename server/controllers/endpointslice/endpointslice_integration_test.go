package endpointslice_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/endpointslice"
)

const holdFinalizer = "kite.test/hold"

type env struct {
	t  *testing.T
	c  kubernetes.Interface
	ns string
}

func ctx() context.Context { return context.Background() }

func newEnv(t *testing.T, c kubernetes.Interface, ns string) *env {
	t.Helper()
	return &env{t: t, c: c, ns: controllertest.Namespace(t, c, ns)}
}

func node(t *testing.T, c kubernetes.Interface, name, zone string) {
	t.Helper()
	controllertest.ReadyNode(t, c, name, func(n *corev1.Node) { n.Labels = map[string]string{corev1.LabelTopologyZone: zone} })
}

func (e *env) service(name string, selector map[string]string, mutate func(*corev1.Service)) *corev1.Service {
	e.t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "a"}}, Spec: corev1.ServiceSpec{
		Selector: selector,
		Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http"), AppProtocol: ptr.To("http")},
			{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)},
		},
	}}
	if mutate != nil {
		mutate(svc)
	}
	out, err := e.c.CoreV1().Services(e.ns).Create(ctx(), svc, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating service %s: %v", name, err)
	}
	return out
}

// pod creates a pod on nodeName offering "http" on httpPort, and gives it
// ip and the readiness asked for, as a kubelet would.
func (e *env) pod(name, nodeName string, labels map[string]string, httpPort int32, ip string, ready bool, mutate func(*corev1.Pod)) *corev1.Pod {
	e.t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.PodSpec{
		NodeName:   nodeName,
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort}}}},
	}}
	if mutate != nil {
		mutate(pod)
	}
	out, err := e.c.CoreV1().Pods(e.ns).Create(ctx(), pod, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating pod %s: %v", name, err)
	}
	return e.setStatus(out, ip, ready)
}

func (e *env) setStatus(pod *corev1.Pod, ip string, ready bool) *corev1.Pod {
	e.t.Helper()
	return controllertest.UpdatePodStatus(e.t, e.c, e.ns, pod.Name, controllertest.Serving(ip, ready))
}

func (e *env) slicesOf(service string) []discovery.EndpointSlice {
	e.t.Helper()
	list, err := e.c.DiscoveryV1().EndpointSlices(e.ns).List(ctx(), metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=" + service})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

// waitFor polls the Service's slices until check passes (returns "").
func (e *env) waitFor(service string, check func([]discovery.EndpointSlice) string) []discovery.EndpointSlice {
	e.t.Helper()
	var last string
	var got []discovery.EndpointSlice
	err := wait.PollUntilContextTimeout(ctx(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		got = e.slicesOf(service)
		last = check(got)
		return last == "", nil
	})
	if err != nil {
		e.t.Fatalf("slices of %s/%s: %s", e.ns, service, last)
	}
	return got
}

// view renders slices as sorted lines "ports | endpoint ...", an endpoint
// as pod(ready,serving,terminating)@zone.
func view(list []discovery.EndpointSlice) string {
	var lines []string
	for _, s := range list {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", *p.Name, *p.Port))
		}
		for _, ep := range s.Endpoints {
			flag := func(b *bool) string {
				if b != nil && *b {
					return "1"
				}
				return "0"
			}
			c := ep.Conditions
			eps = append(eps, fmt.Sprintf("%s(%s%s%s)@%s", ep.TargetRef.Name, flag(c.Ready), flag(c.Serving), flag(c.Terminating), ptr.Deref(ep.Zone, "")))
		}
		sort.Strings(ports)
		sort.Strings(eps)
		lines = append(lines, strings.Join(ports, ",")+" | "+strings.Join(eps, " "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

func wantView(want string) func([]discovery.EndpointSlice) string {
	return func(list []discovery.EndpointSlice) string {
		if got := view(list); got != want {
			return fmt.Sprintf("got  %q\nwant %q", got, want)
		}
		return ""
	}
}

func TestIntegrationEndpointSlices(t *testing.T) {
	s, cc := controllertest.Start(t)
	c := s.Client
	node(t, c, "node-a", "zone-1")
	node(t, c, "node-b", "zone-2")
	controllertest.Run(t, cc, endpointslice.New(cc))

	t.Run("endpoints, conditions and ports", func(t *testing.T) {
		e := newEnv(t, c, "basic")
		sel := map[string]string{"app": "web"}
		svc := e.service("web", sel, nil)
		a := e.pod("a", "node-a", sel, 8080, "10.42.0.1", true, nil)
		b := e.pod("b", "node-b", sel, 8081, "10.42.0.2", false, func(p *corev1.Pod) { p.Spec.Hostname = "b"; p.Spec.Subdomain = "web" })
		e.pod("other", "node-a", map[string]string{"app": "db"}, 8080, "10.42.0.3", true, nil)
		got := e.waitFor("web", wantView("http:8080,metrics:9090 | a(110)@zone-1; http:8081,metrics:9090 | b(000)@zone-2"))
		for _, sl := range got {
			if !strings.HasPrefix(sl.Name, "web-") || sl.AddressType != discovery.AddressTypeIPv4 ||
				sl.Labels[discovery.LabelManagedBy] != endpointslice.ManagedBy || sl.Labels["team"] != "a" {
				t.Errorf("slice %s: addressType %s labels %v", sl.Name, sl.AddressType, sl.Labels)
			}
			if _, ok := sl.Labels[corev1.IsHeadlessService]; ok {
				t.Errorf("slice %s of a ClusterIP Service labelled headless", sl.Name)
			}
			if len(sl.OwnerReferences) != 1 || sl.OwnerReferences[0].UID != svc.UID || !ptr.Deref(sl.OwnerReferences[0].Controller, false) {
				t.Errorf("slice %s owners %+v", sl.Name, sl.OwnerReferences)
			}
			if _, err := time.Parse(time.RFC3339Nano, sl.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
				t.Errorf("slice %s annotations %v", sl.Name, sl.Annotations)
			}
			for _, p := range sl.Ports {
				if *p.Protocol != corev1.ProtocolTCP || (*p.Name == "http") != (ptr.Deref(p.AppProtocol, "") == "http") {
					t.Errorf("slice %s port %+v", sl.Name, p)
				}
			}
			ep := sl.Endpoints[0]
			want := a
			if ep.TargetRef.Name == "b" {
				want = b
				if ptr.Deref(ep.Hostname, "") != "b" {
					t.Errorf("endpoint b hostname %v", ep.Hostname)
				}
			}
			if ep.Addresses[0] != want.Status.PodIP || ptr.Deref(ep.NodeName, "") != want.Spec.NodeName || ep.TargetRef.UID != want.UID || ep.TargetRef.Kind != "Pod" {
				t.Errorf("endpoint %+v", ep)
			}
		}
		e.setStatus(b, "10.42.0.2", true)
		e.waitFor("web", wantView("http:8080,metrics:9090 | a(110)@zone-1; http:8081,metrics:9090 | b(110)@zone-2"))

		// A headless Service without ports: one slice, labelled headless.
		e.service("web-hl", sel, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Ports = nil })
		hl := e.waitFor("web-hl", wantView(" | a(110)@zone-1 b(110)@zone-2"))
		if _, ok := hl[0].Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("headless slice labels %v", hl[0].Labels)
		}

		// The API server's own slice of the kubernetes Service is not this
		// controller's.
		k, err := c.DiscoveryV1().EndpointSlices("default").Get(ctx(), "kubernetes", metav1.GetOptions{})
		if err != nil || len(k.Endpoints) != 1 || k.Labels[discovery.LabelManagedBy] != "" {
			t.Errorf("kubernetes slice: %+v, %v", k, err)
		}
	})

	t.Run("terminating pods", func(t *testing.T) {
		e := newEnv(t, c, "terminating")
		sel := map[string]string{"app": "t"}
		e.service("plain", sel, nil)
		e.service("publish", sel, func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
		e.pod("keep", "node-a", sel, 8080, "10.42.1.1", false, nil)
		e.pod("going", "node-a", sel, 8080, "10.42.1.2", true, func(p *corev1.Pod) { p.Finalizers = []string{holdFinalizer} })
		t.Cleanup(func() {
			_, _ = c.CoreV1().Pods(e.ns).Patch(ctx(), "going", "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		})
		e.waitFor("plain", wantView("http:8080,metrics:9090 | going(110)@zone-1 keep(000)@zone-1"))
		e.waitFor("publish", wantView("http:8080,metrics:9090 | going(110)@zone-1 keep(100)@zone-1"))
		if err := c.CoreV1().Pods(e.ns).Delete(ctx(), "going", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("plain", wantView("http:8080,metrics:9090 | going(011)@zone-1 keep(000)@zone-1"))
		e.waitFor("publish", wantView("http:8080,metrics:9090 | going(111)@zone-1 keep(100)@zone-1"))
	})

	t.Run("over 100 endpoints with minimal churn", func(t *testing.T) {
		e := newEnv(t, c, "many")
		sel := map[string]string{"app": "many"}
		e.service("many", sel, func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[1:] })
		const n = 205
		pods := make([]*corev1.Pod, n)
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					pods[i] = e.pod(fmt.Sprintf("p%d", i), "node-a", sel, 8080, fmt.Sprintf("10.42.%d.%d", 10+i/200, 1+i%200), true, nil)
				}
			}()
		}
		for i := 0; i < n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()

		// How 205 endpoints spread depends on the order pods became
		// ready; what is certain is at most 100 per slice, three slices.
		total := func(want int) func([]discovery.EndpointSlice) string {
			return func(list []discovery.EndpointSlice) string {
				n := 0
				var sizes []int
				for _, s := range list {
					n += len(s.Endpoints)
					sizes = append(sizes, len(s.Endpoints))
					if len(s.Endpoints) > 100 {
						return fmt.Sprintf("slice sizes %v", sizes)
					}
				}
				if n != want || len(list) != 3 {
					return fmt.Sprintf("slice sizes %v, want %d endpoints in 3 slices", sizes, want)
				}
				return ""
			}
		}
		before := e.waitFor("many", total(n))
		versions := map[string]string{}
		holder := map[string]string{} // pod -> slice
		for _, s := range before {
			versions[s.Name] = s.ResourceVersion
			for _, ep := range s.Endpoints {
				holder[ep.TargetRef.Name] = s.Name
			}
		}
		changedSlices := func(after []discovery.EndpointSlice) []string {
			var changed []string
			for _, s := range after {
				if versions[s.Name] != s.ResourceVersion {
					changed = append(changed, s.Name)
				}
			}
			return changed
		}

		// One pod turns not ready: only the slice holding it is rewritten.
		victim := pods[42]
		e.setStatus(victim, victim.Status.PodIP, false)
		after := e.waitFor("many", func(list []discovery.EndpointSlice) string {
			for _, s := range list {
				for _, ep := range s.Endpoints {
					if ep.TargetRef.Name == victim.Name && !ptr.Deref(ep.Conditions.Ready, true) {
						return total(n)(list)
					}
				}
			}
			return "p42 still ready"
		})
		if got := changedSlices(after); !slices.Equal(got, []string{holder[victim.Name]}) {
			t.Fatalf("slices rewritten %v, want only %s", got, holder[victim.Name])
		}
		for _, s := range after {
			versions[s.Name] = s.ResourceVersion
		}

		// One pod goes away (at once: no kubelet finishes graceful
		// deletions here): only its slice changes.
		gone := pods[7]
		if err := c.CoreV1().Pods(e.ns).Delete(ctx(), gone.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		after = e.waitFor("many", total(n-1))
		if got := changedSlices(after); !slices.Equal(got, []string{holder[gone.Name]}) {
			t.Fatalf("slices rewritten %v, want only %s", got, holder[gone.Name])
		}
	})

	t.Run("placeholder, selector changes and deletion", func(t *testing.T) {
		e := newEnv(t, c, "selector")
		svc := e.service("app", map[string]string{"color": "blue"}, nil)
		placeholder := e.waitFor("app", wantView(" | "))
		e.pod("blue", "node-a", map[string]string{"color": "blue"}, 8080, "10.42.2.1", true, nil)
		after := e.waitFor("app", wantView("http:8080,metrics:9090 | blue(110)@zone-1"))
		if after[0].Name != placeholder[0].Name {
			t.Errorf("placeholder %s replaced by %s, want it reused", placeholder[0].Name, after[0].Name)
		}

		// A slice deleted by hand comes back.
		if err := c.DiscoveryV1().EndpointSlices(e.ns).Delete(ctx(), after[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("app", func(list []discovery.EndpointSlice) string {
			if len(list) == 1 && list[0].Name == after[0].Name {
				return "not deleted yet"
			}
			return wantView("http:8080,metrics:9090 | blue(110)@zone-1")(list)
		})

		// A user's slice of a selector-less Service is left alone.
		e.service("manual", nil, nil)
		user := &discovery.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "manual-1", Labels: map[string]string{discovery.LabelServiceName: "manual", discovery.LabelManagedBy: "someone"}},
			AddressType: discovery.AddressTypeIPv4,
			Endpoints:   []discovery.Endpoint{{Addresses: []string{"192.0.2.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "ext"}}},
		}
		if _, err := c.DiscoveryV1().EndpointSlices(e.ns).Create(ctx(), user, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}

		svc.Spec.Selector = nil
		if _, err := c.CoreV1().Services(e.ns).Update(ctx(), svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("app", wantView(""))

		e.service("short", map[string]string{"color": "blue"}, nil)
		e.waitFor("short", wantView("http:8080,metrics:9090 | blue(110)@zone-1"))
		if err := c.CoreV1().Services(e.ns).Delete(ctx(), "short", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("short", wantView(""))
		if got := view(e.slicesOf("manual")); got != " | ext(000)@" {
			t.Fatalf("user slice changed: %q", got)
		}
	})

	t.Run("pod on an unknown node", func(t *testing.T) {
		e := newEnv(t, c, "nodes")
		sel := map[string]string{"app": "n"}
		e.service("n", sel, nil)
		e.pod("known", "node-a", sel, 8080, "10.42.3.1", true, nil)
		e.pod("lost", "node-late", sel, 8080, "10.42.3.2", true, nil)
		e.waitFor("n", wantView("http:8080,metrics:9090 | known(110)@zone-1"))
		err := wait.PollUntilContextTimeout(ctx(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			list, err := c.EventsV1().Events(e.ns).List(ctx(), metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, ev := range list.Items {
				if ev.Reason == "FailedToUpdateEndpointSlices" && ev.Regarding.Name == "n" && ev.Type == corev1.EventTypeWarning &&
					ev.ReportingController == "endpoint-slice-controller" && strings.Contains(ev.Note, "Node node-late Not Found") {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("no FailedToUpdateEndpointSlices event: %v", err)
		}
		node(t, c, "node-late", "zone-3")
		e.waitFor("n", wantView("http:8080,metrics:9090 | known(110)@zone-1 lost(110)@zone-3"))
	})

	t.Run("traffic distribution hints", func(t *testing.T) {
		e := newEnv(t, c, "hints")
		sel := map[string]string{"app": "h"}
		e.service("h", sel, func(s *corev1.Service) {
			s.Spec.TrafficDistribution = ptr.To(corev1.ServiceTrafficDistributionPreferSameZone)
		})
		e.pod("h1", "node-b", sel, 8080, "10.42.4.1", true, nil)
		e.waitFor("h", func(list []discovery.EndpointSlice) string {
			if len(list) != 1 || len(list[0].Endpoints) != 1 {
				return view(list)
			}
			h := list[0].Endpoints[0].Hints
			if h == nil || len(h.ForZones) != 1 || h.ForZones[0].Name != "zone-2" {
				return fmt.Sprintf("hints %+v", h)
			}
			return ""
		})
	})
}
