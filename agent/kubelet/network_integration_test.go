package kubelet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

// Pod network of the test: a bridge and subnet of its own, no gateway and
// no masquerading, so nothing outside the test changes.
const (
	testBridge = "kltest0"
	testSubnet = "10.250.77.0/24"
)

// writeTestCNIConfig writes a bridge + host-local network for containerd.
func writeTestCNIConfig(t *testing.T, dataDir string) {
	if _, err := netlink.LinkByName(testBridge); err == nil {
		t.Skipf("bridge %s exists already; another test run is using it", testBridge)
	}
	t.Cleanup(func() {
		if link, err := netlink.LinkByName(testBridge); err == nil {
			_ = netlink.LinkDel(link)
		}
	})
	confDir := filepath.Join(dataDir, "agent", "etc", "cni", "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "kltest",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "dataDir": %q}
  }]
}`, testBridge, testSubnet, filepath.Join(dataDir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(confDir, "10-kltest.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKubeletPodNetwork(t *testing.T) {
	e := startKubeletEnvWith(t, func(dataDir string) { writeTestCNIConfig(t, dataDir) })

	pod := busyboxPod("networked", v1.RestartPolicyAlways, "exec sleep 3600")
	pod.Spec.HostNetwork = false
	pod.Spec.Hostname = "web-0"
	pod.Spec.Subdomain = "web"
	pod.Spec.Containers[0].Env = []v1.EnvVar{
		{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "GREETING", Value: "hello from $(POD_IP)"},
	}
	pod.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}
	created := e.create(t, pod)
	p := e.waitForPod(t, "networked", "Running with an IP", func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodRunning && p.Status.PodIP != ""
	})
	_, subnet, _ := net.ParseCIDR(testSubnet)
	if ip := net.ParseIP(p.Status.PodIP); ip == nil || !subnet.Contains(ip) || len(p.Status.PodIPs) != 1 {
		t.Fatalf("pod IPs = %q %v, want one address in %s", p.Status.PodIP, p.Status.PodIPs, testSubnet)
	}
	if c := findCondition(p.Status.Conditions, v1.PodReadyToStartContainers); c == nil || c.Status != v1.ConditionTrue {
		t.Errorf("PodReadyToStartContainers = %+v", c)
	}
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	exec := func(cmd ...string) string {
		out, stderr, err := e.rt.RuntimeService().ExecSync(context.Background(), id, cmd, 0)
		if err != nil {
			t.Fatalf("exec %v: %v (%s)", cmd, err, stderr)
		}
		return string(out)
	}
	hosts := exec("cat", "/etc/hosts")
	wantHost := p.Status.PodIP + "\tweb-0.web.default.svc.cluster.local\tweb-0"
	if !strings.Contains(hosts, wantHost) {
		t.Errorf("/etc/hosts lacks %q:\n%s", wantHost, hosts)
	}
	resolv := exec("cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.43.0.10", "search default.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("/etc/resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	if got := strings.TrimSpace(exec("hostname")); got != "web-0" {
		t.Errorf("hostname = %q, want web-0", got)
	}
	env := exec("env")
	if !strings.Contains(env, "GREETING=hello from "+p.Status.PodIP) {
		t.Errorf("environment lacks the expanded GREETING:\n%s", env)
	}
	if got := strings.TrimSpace(exec("cat", "/dev/termination-log")); got != "" {
		t.Errorf("fresh termination log holds %q", got)
	}
	// The container is in the pod's cgroup with its memory limit.
	sbs, err := e.rt.RuntimeService().ListPodSandbox(context.Background(),
		&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{crilabels.PodUID: string(created.UID)}})
	if err != nil || len(sbs) != 1 {
		t.Fatalf("sandboxes = %v, %v", sbs, err)
	}
	limit, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory/kubepods/burstable", "pod"+string(created.UID), id, "memory.limit_in_bytes"))
	if err != nil {
		t.Errorf("container cgroup: %v", err)
	} else if strings.TrimSpace(string(limit)) != "67108864" {
		t.Errorf("memory limit = %s, want 67108864", limit)
	}
}
