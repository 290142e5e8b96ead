package resourcequota_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/resourcequota"
)

func start(t *testing.T, namespace string) kubernetes.Interface {
	t.Helper()
	s, cc := controllertest.Start(t)
	controllertest.Run(t, cc, resourcequota.New(cc))
	controllertest.Namespace(t, s.Client, namespace)
	return s.Client
}

func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

// waitUsed waits until the quota's status.used has exactly the expected
// values for the given names (and status.hard equals spec.hard).
func waitUsed(t *testing.T, c kubernetes.Interface, ns, name string, want corev1.ResourceList) {
	t.Helper()
	var last *corev1.ResourceQuota
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		q, err := c.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = q
		if len(q.Status.Hard) != len(q.Spec.Hard) {
			return false, nil
		}
		for k, v := range q.Spec.Hard {
			if h, ok := q.Status.Hard[k]; !ok || h.Cmp(v) != 0 {
				return false, nil
			}
		}
		for k, v := range want {
			if u, ok := q.Status.Used[k]; !ok || u.Cmp(v) != 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("quota %s: want used %v, last status %+v", name, want, last.Status)
	}
}

func pod(name string, requests, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits},
		}}},
	}
}

// TestIntegrationQuotaUsage: usage follows pods (requests, limits, the
// cpu/memory shorthand; terminal pods still count as objects but not as
// compute), Services (node ports, load balancers), ConfigMaps, claims and
// any other served resource by count/<resource>.<group>; unknown
// resources get no usage.
func TestIntegrationQuotaUsage(t *testing.T) {
	const ns = "quota"
	c := start(t, ns)
	ctx := context.Background()
	hard := list(
		"pods", "10", "count/pods", "10", "cpu", "4", "memory", "1Gi", "requests.cpu", "4", "requests.memory", "1Gi",
		"limits.cpu", "8", "limits.memory", "2Gi", "requests.ephemeral-storage", "1Gi",
		"services", "5", "count/services", "5", "services.nodeports", "10", "services.loadbalancers", "2",
		"configmaps", "10", "count/configmaps", "10", "secrets", "10",
		"count/deployments.apps", "3", "count/foos.example.com", "3",
		"persistentvolumeclaims", "3", "requests.storage", "10Gi", "gold.storageclass.storage.k8s.io/requests.storage", "5Gi",
	)
	if _, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, c, ns, "q", list("pods", "0", "cpu", "0", "services", "0", "configmaps", "0", "secrets", "0", "count/deployments.apps", "0", "persistentvolumeclaims", "0"))
	q, _ := c.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
	if _, ok := q.Status.Used["count/foos.example.com"]; ok {
		t.Errorf("a resource the server does not serve has usage: %v", q.Status.Used)
	}

	req, lim := list("cpu", "100m", "memory", "64Mi"), list("cpu", "200m", "memory", "128Mi")
	for _, name := range []string{"p1", "p2"} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, pod(name, req, lim), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUsed(t, c, ns, "q", list("pods", "2", "count/pods", "2", "cpu", "200m", "requests.cpu", "200m", "memory", "128Mi", "requests.memory", "128Mi",
		"limits.cpu", "400m", "limits.memory", "256Mi", "requests.ephemeral-storage", "0"))

	p2, err := c.CoreV1().Pods(ns).Get(ctx, "p2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2.Status.Phase = corev1.PodSucceeded
	if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, p2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, c, ns, "q", list("pods", "1", "count/pods", "2", "cpu", "100m", "limits.memory", "128Mi"))

	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "np"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "lb"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
	}
	for _, svc := range svcs {
		svc.Spec.Selector = map[string]string{"app": "x"}
		if _, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUsed(t, c, ns, "q", list("services", "3", "count/services", "3", "services.nodeports", "3", "services.loadbalancers", "1"))

	for i := 0; i < 2; i++ {
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("cm", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUsed(t, c, ns, "q", list("configmaps", "2", "count/configmaps", "2"))
	if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, "cm0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, c, ns, "q", list("configmaps", "1", "count/configmaps", "1"))

	if _, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, c, ns, "q", list("count/deployments.apps", "1"))

	if _, err := c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("gold"),
			Resources:        corev1.VolumeResourceRequirements{Requests: list("storage", "1Gi")},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, c, ns, "q", list("persistentvolumeclaims", "1", "requests.storage", "1Gi", "gold.storageclass.storage.k8s.io/requests.storage", "1Gi"))

	// New limits are mirrored and measured.
	q, err = c.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Hard["count/secrets"] = resource.MustParse("7")
	delete(q.Spec.Hard, "secrets")
	if _, err := c.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, c, ns, "q", list("count/secrets", "0"))
	q, _ = c.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
	if _, ok := q.Status.Used["secrets"]; ok {
		t.Errorf("usage of a dropped limit stays: %v", q.Status.Used)
	}
}

// TestIntegrationQuotaScopes: scoped quotas count only the pods in their
// scopes: Terminating/NotTerminating by active deadline, BestEffort/
// NotBestEffort by QoS, PriorityClass by scope selector.
func TestIntegrationQuotaScopes(t *testing.T) {
	const ns = "scopes"
	c := start(t, ns)
	ctx := context.Background()
	if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	quotas := map[string]corev1.ResourceQuotaSpec{
		"terminating":     {Hard: list("pods", "10"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}},
		"not-terminating": {Hard: list("pods", "10"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}},
		"best-effort":     {Hard: list("pods", "10"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}},
		"not-best-effort": {Hard: list("pods", "10", "requests.cpu", "2"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}},
		"high": {Hard: list("pods", "10"), ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}},
		}}},
	}
	for name, spec := range quotas {
		if _, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	plain := pod("plain", nil, nil)
	deadline := pod("deadline", list("cpu", "250m"), nil)
	deadline.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
	important := pod("important", nil, nil)
	important.Spec.PriorityClassName = "high"
	for _, p := range []*corev1.Pod{plain, deadline, important} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUsed(t, c, ns, "terminating", list("pods", "1"))
	waitUsed(t, c, ns, "not-terminating", list("pods", "2"))
	waitUsed(t, c, ns, "best-effort", list("pods", "2"))
	waitUsed(t, c, ns, "not-best-effort", list("pods", "1", "requests.cpu", "250m"))
	waitUsed(t, c, ns, "high", list("pods", "1"))

	if err := c.CoreV1().Pods(ns).Delete(ctx, "important", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, c, ns, "high", list("pods", "0"))
	waitUsed(t, c, ns, "best-effort", list("pods", "1"))
}
