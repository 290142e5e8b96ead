package resourcequota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func rl(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func TestSourceOf(t *testing.T) {
	cases := map[corev1.ResourceName]schema.GroupResource{
		"pods":                     podsGR,
		"count/pods":               podsGR,
		"limits.memory":            podsGR,
		"hugepages-2Mi":            podsGR,
		"requests.hugepages-2Mi":   podsGR,
		"requests.example.com/gpu": podsGR,
		"services.nodeports":       servicesGR,
		"count/services":           servicesGR,
		"requests.storage":         pvcsGR,
		"gold.storageclass.storage.k8s.io/persistentvolumeclaims": pvcsGR,
		"configmaps":                {Resource: "configmaps"},
		"count/secrets":             {Resource: "secrets"},
		"count/deployments.apps":    {Group: "apps", Resource: "deployments"},
		"count/widgets.example.com": {Group: "example.com", Resource: "widgets"},
	}
	for name, want := range cases {
		if got, ok := sourceOf(name); !ok || got != want {
			t.Errorf("%s: %v %v, want %v", name, got, ok, want)
		}
	}
	for _, name := range []corev1.ResourceName{"count/events", "count/events.events.k8s.io", "example.com/gpu", "limits.example.com/gpu", "count/"} {
		if got, ok := sourceOf(name); ok {
			t.Errorf("%s measured by %v", name, got)
		}
	}
}

func TestPodUsage(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1")}}},
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "200m", "memory", "1Gi", "hugepages-2Mi", "4Mi", "example.com/gpu", "1"), Limits: rl("memory", "2Gi")}},
			{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "300m")}},
		},
	}}
	got, until := podUsage(p, now)
	want := rl("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1", "memory", "1Gi", "requests.memory", "1Gi",
		"limits.memory", "2Gi", "hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi", "requests.example.com/gpu", "1")
	if !equalLists(got, want) || !until.IsZero() {
		t.Errorf("usage %v, want %v (until %v)", got, want, until)
	}

	p.Status.Phase = corev1.PodFailed
	if got, _ := podUsage(p, now); !equalLists(got, rl("count/pods", "1")) {
		t.Errorf("terminal pod: %v", got)
	}

	p.Status.Phase = corev1.PodRunning
	p.DeletionTimestamp = &metav1.Time{Time: now.Add(-10 * time.Second)}
	p.DeletionGracePeriodSeconds = ptr.To[int64](30)
	if got, until := podUsage(p, now); got.Pods().Value() != 1 || !until.Equal(now.Add(20*time.Second)) {
		t.Errorf("terminating pod within grace: %v until %v", got, until)
	}
	if got, _ := podUsage(p, now.Add(time.Minute)); !equalLists(got, rl("count/pods", "1")) {
		t.Errorf("pod stuck past its grace period: %v", got)
	}
}

func TestServiceUsage(t *testing.T) {
	ports := []corev1.ServicePort{{Port: 1, NodePort: 30001}, {Port: 2}}
	cases := []struct {
		name string
		spec corev1.ServiceSpec
		want corev1.ResourceList
	}{
		{"cluster IP", corev1.ServiceSpec{Ports: ports}, rl("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
		{"node port", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports}, rl("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "0")},
		{"load balancer", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports}, rl("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "1")},
		{"load balancer without node ports", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports, AllocateLoadBalancerNodePorts: ptr.To(false)},
			rl("services", "1", "count/services", "1", "services.nodeports", "1", "services.loadbalancers", "1")},
	}
	for _, tc := range cases {
		if got := serviceUsage(&corev1.Service{Spec: tc.spec}); !equalLists(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPVCUsage(t *testing.T) {
	pvc := &corev1.PersistentVolumeClaim{
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gold"), Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1500m")}},
	}
	want := rl("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2",
		"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1", "gold.storageclass.storage.k8s.io/requests.storage", "2")
	if got := pvcUsage(pvc); !equalLists(got, want) {
		t.Errorf("fractional request: %v, want %v", got, want)
	}
	pvc.Status.AllocatedResources = rl("storage", "5Gi")
	if got := pvcUsage(pvc)[corev1.ResourceRequestsStorage]; got.Cmp(resource.MustParse("5Gi")) != 0 {
		t.Errorf("larger allocation: %v", got.String())
	}
}

func TestPodScopes(t *testing.T) {
	bestEffort := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}
	guaranteed := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "high", ActiveDeadlineSeconds: ptr.To[int64](5),
		Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1", "memory", "1Gi"), Limits: rl("cpu", "1", "memory", "1Gi")}}}}}
	burstable := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1")}}}}}
	if podQOS(bestEffort) != corev1.PodQOSBestEffort || podQOS(guaranteed) != corev1.PodQOSGuaranteed || podQOS(burstable) != corev1.PodQOSBurstable {
		t.Fatalf("qos: %s %s %s", podQOS(bestEffort), podQOS(guaranteed), podQOS(burstable))
	}
	scope := func(s corev1.ResourceQuotaScope, op corev1.ScopeSelectorOperator, values ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: op, Values: values}
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		req  corev1.ScopedResourceSelectorRequirement
		want bool
	}{
		{"terminating", guaranteed, scope(corev1.ResourceQuotaScopeTerminating, corev1.ScopeSelectorOpExists), true},
		{"not terminating", bestEffort, scope(corev1.ResourceQuotaScopeNotTerminating, corev1.ScopeSelectorOpExists), true},
		{"best effort", burstable, scope(corev1.ResourceQuotaScopeBestEffort, corev1.ScopeSelectorOpExists), false},
		{"not best effort", burstable, scope(corev1.ResourceQuotaScopeNotBestEffort, corev1.ScopeSelectorOpExists), true},
		{"priority in", guaranteed, scope(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpIn, "high"), true},
		{"priority not in", guaranteed, scope(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpNotIn, "high"), false},
		{"no priority, not in", bestEffort, scope(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpNotIn, "high"), true},
		{"priority exists", bestEffort, scope(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpExists), false},
		{"priority does not exist", bestEffort, scope(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpDoesNotExist), true},
	}
	for _, tc := range cases {
		if got, err := podInScope(tc.pod, tc.req); err != nil || got != tc.want {
			t.Errorf("%s: %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := podInScope(bestEffort, scope(corev1.ResourceQuotaScopePriorityClass, "Bogus", "x")); err == nil {
		t.Error("a bad operator was accepted")
	}
}
