//lint:file-ignore SA1019 core/v1 Endpoints are deprecated in favour of EndpointSlices, but clients still read them and this controller is what writes them.

package endpoints

import (
	"reflect"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testPod(name, ip string, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func addr(pod *corev1.Pod) corev1.EndpointAddress {
	node := pod.Spec.NodeName
	return corev1.EndpointAddress{IP: pod.Status.PodIP, NodeName: &node,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}}
}

func TestDesiredSubsets(t *testing.T) {
	http := func(port int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}
	}
	a := testPod("a", "10.0.0.1", true, http(8080))
	b := testPod("b", "10.0.0.2", false, http(8081))
	c := testPod("c", "10.0.0.3", true) // no port named http
	noIP := testPod("d", "", true, http(8080))
	noIP.Status.PodIPs = nil
	done := testPod("e", "10.0.0.5", true, http(8080))
	done.Status.Phase = corev1.PodSucceeded
	gone := testPod("f", "10.0.0.6", true, http(8080))
	gone.DeletionTimestamp = &metav1.Time{}

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.5", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)},
		}},
	}
	port := func(name string, n int32) corev1.EndpointPort {
		return corev1.EndpointPort{Name: name, Port: n, Protocol: corev1.ProtocolTCP}
	}
	headless := svc.DeepCopy()
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	headless.Spec.Ports = nil
	publish := svc.DeepCopy()
	publish.Spec.PublishNotReadyAddresses = true
	publish.Spec.Ports = publish.Spec.Ports[1:]

	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{"named port resolves per pod", svc, []*corev1.Pod{a, b, c, noIP, done, gone}, []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{addr(a)}, Ports: []corev1.EndpointPort{port("http", 8080)}},
			{NotReadyAddresses: []corev1.EndpointAddress{addr(b)}, Ports: []corev1.EndpointPort{port("http", 8081)}},
			{Addresses: []corev1.EndpointAddress{addr(a), addr(c)}, NotReadyAddresses: []corev1.EndpointAddress{addr(b)}, Ports: []corev1.EndpointPort{port("metrics", 9090)}},
		}},
		{"same ports share a subset", svc, []*corev1.Pod{a, testPod("a2", "10.0.0.9", true, http(8080))}, []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{addr(a), addr(testPod("a2", "10.0.0.9", true, http(8080)))}, Ports: []corev1.EndpointPort{port("http", 8080), port("metrics", 9090)}},
		}},
		{"headless without ports", headless, []*corev1.Pod{a, b}, []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{addr(a)}, NotReadyAddresses: []corev1.EndpointAddress{addr(b)}},
		}},
		{"publishNotReadyAddresses keeps terminating and not-ready pods ready", publish, []*corev1.Pod{b, gone}, []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{addr(b), addr(gone)}, Ports: []corev1.EndpointPort{port("metrics", 9090)}},
		}},
		{"no pods", svc, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := desiredSubsets(tt.svc, tt.pods)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPackNotReadyWins(t *testing.T) {
	a := addr(testPod("a", "10.0.0.1", true))
	p := &corev1.EndpointPort{Name: "p", Port: 1, Protocol: corev1.ProtocolTCP}
	got := pack([]entry{{addr: a, ready: true, port: p}, {addr: a, ready: false, port: p}})
	if len(got) != 1 || len(got[0].Addresses) != 0 || len(got[0].NotReadyAddresses) != 1 {
		t.Fatalf("got %+v, want the address not ready", got)
	}
}

func TestTruncate(t *testing.T) {
	addrs := func(prefix string, n int) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, n)
		for i := range out {
			out[i].IP = prefix + strconv.Itoa(i)
		}
		return out
	}
	count := func(s []corev1.EndpointSubset) (ready, notReady []int) {
		for _, x := range s {
			ready = append(ready, len(x.Addresses))
			notReady = append(notReady, len(x.NotReadyAddresses))
		}
		return
	}
	tests := []struct {
		name                  string
		subsets               []corev1.EndpointSubset
		truncated             bool
		wantReady, wantNotRdy []int
	}{
		{"at capacity", []corev1.EndpointSubset{{Addresses: addrs("a", 600), NotReadyAddresses: addrs("b", 400)}}, false, []int{600}, []int{400}},
		{"not-ready cut first", []corev1.EndpointSubset{
			{Addresses: addrs("a", 500), NotReadyAddresses: addrs("b", 300)},
			{Addresses: addrs("c", 100), NotReadyAddresses: addrs("d", 300)},
		}, true, []int{500, 100}, []int{200, 200}},
		{"ready over capacity", []corev1.EndpointSubset{
			{Addresses: addrs("a", 900), NotReadyAddresses: addrs("b", 10)},
			{Addresses: addrs("c", 300)},
		}, true, []int{750, 250}, []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.subsets); got != tt.truncated {
				t.Fatalf("truncate = %v, want %v", got, tt.truncated)
			}
			ready, notReady := count(tt.subsets)
			if !reflect.DeepEqual(ready, tt.wantReady) || !reflect.DeepEqual(notReady, tt.wantNotRdy) {
				t.Fatalf("ready %v not ready %v, want %v %v", ready, notReady, tt.wantReady, tt.wantNotRdy)
			}
		})
	}
}
