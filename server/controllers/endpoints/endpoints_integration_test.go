//lint:file-ignore SA1019 the controller under test writes core/v1 Endpoints.

package endpoints_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/endpoints"
)

const holdFinalizer = "kite.test/hold"

type env struct {
	t  *testing.T
	c  kubernetes.Interface
	ns string
}

func (e *env) ctx() context.Context { return context.Background() }

func (e *env) service(name string, selector map[string]string, mutate func(*corev1.Service)) *corev1.Service {
	e.t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "a"}}, Spec: corev1.ServiceSpec{
		Selector: selector,
		Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)},
		},
	}}
	if mutate != nil {
		mutate(svc)
	}
	out, err := e.c.CoreV1().Services(e.ns).Create(e.ctx(), svc, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating service %s: %v", name, err)
	}
	return out
}

// pod creates a pod offering its "http" port on httpPort and gives it ip
// (none when empty) and the readiness asked for, as a kubelet would.
func (e *env) pod(name string, labels map[string]string, httpPort int32, ip string, ready bool, mutate func(*corev1.Pod)) *corev1.Pod {
	e.t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.PodSpec{
		NodeName:   "node-a",
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort}}}},
	}}
	if mutate != nil {
		mutate(pod)
	}
	out, err := e.c.CoreV1().Pods(e.ns).Create(e.ctx(), pod, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating pod %s: %v", name, err)
	}
	if ip == "" {
		return out
	}
	return e.setStatus(out, ip, ready)
}

func (e *env) setStatus(pod *corev1.Pod, ip string, ready bool) *corev1.Pod {
	e.t.Helper()
	return controllertest.UpdatePodStatus(e.t, e.c, e.ns, pod.Name, controllertest.Serving(ip, ready))
}

// waitFor polls the Endpoints named name until check passes (returns "").
func (e *env) waitFor(name string, check func(ep *corev1.Endpoints, err error) string) *corev1.Endpoints {
	e.t.Helper()
	var last string
	var ep *corev1.Endpoints
	err := wait.PollUntilContextTimeout(e.ctx(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var err error
		ep, err = e.c.CoreV1().Endpoints(e.ns).Get(e.ctx(), name, metav1.GetOptions{})
		last = check(ep, err)
		return last == "", nil
	})
	if err != nil {
		e.t.Fatalf("endpoints %s/%s: %s", e.ns, name, last)
	}
	return ep
}

// subsets renders subsets compactly: "ready|notReady|ports;..." with pod
// names and name:port pairs.
func subsets(ep *corev1.Endpoints) string {
	out := ""
	for i, s := range ep.Subsets {
		if i > 0 {
			out += ";"
		}
		for _, a := range s.Addresses {
			out += a.TargetRef.Name + " "
		}
		out += "|"
		for _, a := range s.NotReadyAddresses {
			out += a.TargetRef.Name + " "
		}
		out += "|"
		for _, p := range s.Ports {
			out += fmt.Sprintf("%s:%d ", p.Name, p.Port)
		}
	}
	return out
}

func wantSubsets(want string) func(*corev1.Endpoints, error) string {
	return func(ep *corev1.Endpoints, err error) string {
		if err != nil {
			return err.Error()
		}
		if got := subsets(ep); got != want {
			return fmt.Sprintf("subsets %q, want %q", got, want)
		}
		return ""
	}
}

func gone(ep *corev1.Endpoints, err error) string {
	if apierrors.IsNotFound(err) {
		return ""
	}
	return fmt.Sprintf("still there (err %v)", err)
}

func start(t *testing.T, before func(c kubernetes.Interface)) kubernetes.Interface {
	s, cc := controllertest.Start(t)
	if before != nil {
		before(s.Client)
	}
	controllertest.Run(t, cc, endpoints.New(cc))
	return s.Client
}

func newEnv(t *testing.T, c kubernetes.Interface, ns string) *env {
	t.Helper()
	return &env{t: t, c: c, ns: controllertest.Namespace(t, c, ns)}
}

// release removes the test finalizer so a terminating pod goes away.
func (e *env) release(name string) {
	e.t.Helper()
	_, err := e.c.CoreV1().Pods(e.ns).Patch(e.ctx(), name, "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
}

func TestIntegrationEndpoints(t *testing.T) {
	var leaderUID string
	c := start(t, func(c kubernetes.Interface) {
		// Written before the controller starts: Endpoints of no Service
		// are removed, an old leader-election record is not.
		for name, ann := range map[string]map[string]string{"leftover": nil, "leader": {resourcelock.LeaderElectionRecordAnnotationKey: "{}"}} {
			ep, err := c.CoreV1().Endpoints("default").Create(context.Background(), &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ann != nil {
				leaderUID = string(ep.UID)
			}
		}
	})

	t.Run("readiness and named ports", func(t *testing.T) {
		e := newEnv(t, c, "ready")
		sel := map[string]string{"app": "web"}
		e.service("web", sel, nil)
		a := e.pod("a", sel, 8080, "10.42.0.1", true, nil)
		b := e.pod("b", sel, 8081, "10.42.0.2", false, nil)
		e.pod("no-ip", sel, 8080, "", false, nil)
		e.pod("other", map[string]string{"app": "db"}, 8080, "10.42.0.4", true, nil)
		ep := e.waitFor("web", wantSubsets("a ||http:8080 ;|b |http:8081 ;a |b |metrics:9090 "))
		if ep.Labels[endpoints.LabelManagedBy] != endpoints.ControllerName || ep.Labels["team"] != "a" {
			t.Errorf("labels %v", ep.Labels)
		}
		if _, ok := ep.Labels[corev1.IsHeadlessService]; ok {
			t.Errorf("a ClusterIP Service's Endpoints are labelled headless")
		}
		if _, err := time.Parse(time.RFC3339Nano, ep.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
			t.Errorf("trigger time annotation: %v", ep.Annotations)
		}
		addr := ep.Subsets[1].NotReadyAddresses[0]
		if addr.IP != "10.42.0.2" || addr.NodeName == nil || *addr.NodeName != "node-a" || addr.TargetRef.Kind != "Pod" || addr.TargetRef.UID != b.UID {
			t.Errorf("address %+v", addr)
		}

		e.setStatus(b, "10.42.0.2", true)
		e.waitFor("web", wantSubsets("a ||http:8080 ;b ||http:8081 ;a b ||metrics:9090 "))
		e.setStatus(a, "10.42.0.1", false)
		e.waitFor("web", wantSubsets("|a |http:8080 ;b ||http:8081 ;b |a |metrics:9090 "))
		if err := e.c.CoreV1().Pods(e.ns).Delete(e.ctx(), "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("web", wantSubsets("b ||http:8081 metrics:9090 "))
	})

	t.Run("headless with hostnames", func(t *testing.T) {
		e := newEnv(t, c, "headless")
		sel := map[string]string{"app": "db"}
		e.service("db", sel, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Ports = nil })
		e.pod("db-0", sel, 5432, "10.42.1.1", true, func(p *corev1.Pod) { p.Spec.Hostname = "db-0"; p.Spec.Subdomain = "db" })
		e.pod("db-1", sel, 5432, "10.42.1.2", true, func(p *corev1.Pod) { p.Spec.Hostname = "db-1"; p.Spec.Subdomain = "other" })
		ep := e.waitFor("db", wantSubsets("db-0 db-1 ||"))
		if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("labels %v lack %s", ep.Labels, corev1.IsHeadlessService)
		}
		if h := ep.Subsets[0].Addresses; h[0].Hostname != "db-0" || h[1].Hostname != "" {
			t.Errorf("hostnames %q %q, want db-0 and none", h[0].Hostname, h[1].Hostname)
		}
	})

	t.Run("terminating pods", func(t *testing.T) {
		e := newEnv(t, c, "terminating")
		sel := map[string]string{"app": "t"}
		e.service("plain", sel, nil)
		e.service("publish", sel, func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
		e.pod("keep", sel, 8080, "10.42.2.1", true, nil)
		e.pod("slow", sel, 8080, "10.42.2.2", false, nil)
		e.pod("going", sel, 8080, "10.42.2.3", true, func(p *corev1.Pod) { p.Finalizers = []string{holdFinalizer} })
		t.Cleanup(func() { e.release("going") })
		e.waitFor("plain", wantSubsets("keep going |slow |http:8080 metrics:9090 "))
		// publishNotReadyAddresses: every address is ready.
		e.waitFor("publish", wantSubsets("keep slow going ||http:8080 metrics:9090 "))

		if err := e.c.CoreV1().Pods(e.ns).Delete(e.ctx(), "going", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("plain", wantSubsets("keep |slow |http:8080 metrics:9090 "))
		e.waitFor("publish", wantSubsets("keep slow going ||http:8080 metrics:9090 "))
	})

	t.Run("selector changes and deletion", func(t *testing.T) {
		e := newEnv(t, c, "selector")
		e.pod("blue", map[string]string{"color": "blue"}, 8080, "10.42.3.1", true, nil)
		e.pod("green", map[string]string{"color": "green"}, 8080, "10.42.3.2", true, nil)
		svc := e.service("app", map[string]string{"color": "blue"}, nil)
		e.waitFor("app", wantSubsets("blue ||http:8080 metrics:9090 "))

		svc.Spec.Selector = map[string]string{"color": "green"}
		svc, err := e.c.CoreV1().Services(e.ns).Update(e.ctx(), svc, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.waitFor("app", wantSubsets("green ||http:8080 metrics:9090 "))

		// Endpoints deleted by hand come back.
		if err := e.c.CoreV1().Endpoints(e.ns).Delete(e.ctx(), "app", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("app", wantSubsets("green ||http:8080 metrics:9090 "))

		// A Service without a selector: its Endpoints are the user's, and
		// those the controller wrote are removed.
		user := e.service("manual", nil, nil)
		if _, err := e.c.CoreV1().Endpoints(e.ns).Create(e.ctx(), &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc.Spec.Selector = nil
		if _, err := e.c.CoreV1().Services(e.ns).Update(e.ctx(), svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("app", gone)
		// Touch the selector-less Service; its Endpoints must stay as written.
		user.Labels["touched"] = "yes"
		if _, err := e.c.CoreV1().Services(e.ns).Update(e.ctx(), user, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}

		// Deleting a Service deletes its Endpoints.
		e.service("short", map[string]string{"color": "blue"}, nil)
		e.waitFor("short", wantSubsets("blue ||http:8080 metrics:9090 "))
		if err := e.c.CoreV1().Services(e.ns).Delete(e.ctx(), "short", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("short", gone)
		ep, err := e.c.CoreV1().Endpoints(e.ns).Get(e.ctx(), "manual", metav1.GetOptions{})
		if err != nil || len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "192.0.2.10" || ep.Labels[endpoints.LabelManagedBy] != "" {
			t.Fatalf("user Endpoints changed: %+v, %v", ep, err)
		}
	})

	t.Run("leftovers and the kubernetes Service", func(t *testing.T) {
		e := &env{t: t, c: c, ns: "default"}
		e.waitFor("leftover", gone)
		leader, err := c.CoreV1().Endpoints("default").Get(e.ctx(), "leader", metav1.GetOptions{})
		if err != nil || string(leader.UID) != leaderUID {
			t.Fatalf("leader-election Endpoints: %v", err)
		}
		k, err := c.CoreV1().Endpoints("default").Get(e.ctx(), "kubernetes", metav1.GetOptions{})
		if err != nil || k.Labels[endpoints.LabelManagedBy] != "" || len(k.Subsets) != 1 {
			t.Fatalf("kubernetes Endpoints touched: %+v, %v", k, err)
		}
	})

	t.Run("over capacity", func(t *testing.T) {
		e := newEnv(t, c, "capacity")
		sel := map[string]string{"app": "big"}
		e.service("big", sel, func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[1:] })
		const n = 1001
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					e.pod(fmt.Sprintf("p%d", i), sel, 8080, fmt.Sprintf("10.42.%d.%d", 10+i/250, 1+i%250), true, nil)
				}
			}()
		}
		for i := 0; i < n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		e.waitFor("big", func(ep *corev1.Endpoints, err error) string {
			if err != nil {
				return err.Error()
			}
			if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1000 || ep.Annotations[corev1.EndpointsOverCapacity] != "truncated" {
				return fmt.Sprintf("%d subsets, annotations %v", len(ep.Subsets), ep.Annotations)
			}
			return ""
		})
		if err := e.c.CoreV1().Pods(e.ns).Delete(e.ctx(), "p0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("big", func(ep *corev1.Endpoints, err error) string {
			if err != nil {
				return err.Error()
			}
			if _, over := ep.Annotations[corev1.EndpointsOverCapacity]; over || len(ep.Subsets[0].Addresses) != 1000 {
				return fmt.Sprintf("%d addresses, annotations %v", len(ep.Subsets[0].Addresses), ep.Annotations)
			}
			return ""
		})
	})
}
