package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

func TestSandboxHostname(t *testing.T) {
	yes := true
	tests := []struct {
		name, hostname, subdomain string
		fqdn                      *bool
		want                      string
	}{
		{"web-1", "", "", nil, "web-1"},
		{"web-1", "db", "", nil, "db"},
		{"web-1", "db", "svc", nil, "db"},
		{"web-1", "db", "svc", &yes, "db.svc.default.svc.cluster.local"},
	}
	for _, tt := range tests {
		pod := &v1.Pod{}
		pod.Name, pod.Namespace = tt.name, "default"
		pod.Spec.Hostname, pod.Spec.Subdomain, pod.Spec.SetHostnameAsFQDN = tt.hostname, tt.subdomain, tt.fqdn
		got, err := sandboxHostname(pod, "cluster.local")
		if err != nil || got != tt.want {
			t.Errorf("sandboxHostname(%q, %q, %q) = %q, %v; want %q", tt.name, tt.hostname, tt.subdomain, got, err, tt.want)
		}
	}
}

func TestNamespaceOptions(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		spec v1.PodSpec
		want *runtimeapi.NamespaceOption
	}{
		{"default", v1.PodSpec{}, &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}},
		{"host", v1.PodSpec{HostNetwork: true, HostPID: true, HostIPC: true}, &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE}},
		{"shared pid", v1.PodSpec{ShareProcessNamespace: &yes}, &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_POD, Ipc: runtimeapi.NamespaceMode_POD}},
	}
	for _, tt := range tests {
		got := namespaceOptions(&v1.Pod{Spec: tt.spec})
		if got.Network != tt.want.Network || got.Pid != tt.want.Pid || got.Ipc != tt.want.Ipc {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestPortMappingsAndLabels(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, []string{"init"}, "app")
	pod.Labels = map[string]string{"app": "web"}
	pod.Spec.Containers[0].Ports = []v1.ContainerPort{
		{ContainerPort: 80, HostPort: 8080, Protocol: v1.ProtocolTCP},
		{ContainerPort: 53, HostPort: 5353, Protocol: v1.ProtocolUDP, HostIP: "127.0.0.1"},
		{ContainerPort: 9090},
	}
	pm := portMappings(pod)
	if len(pm) != 2 || pm[0].HostPort != 8080 || pm[1].Protocol != runtimeapi.Protocol_UDP || pm[1].HostIp != "127.0.0.1" {
		t.Errorf("port mappings = %v", pm)
	}
	labels := podLabels(pod)
	if labels["app"] != "web" || labels[crilabels.PodUID] != "uid-1" || labels[crilabels.PodName] != "web" || labels[crilabels.PodNamespace] != "default" {
		t.Errorf("labels = %v", labels)
	}
	if len(pod.Labels) != 1 {
		t.Error("podLabels must not modify the pod")
	}
}
