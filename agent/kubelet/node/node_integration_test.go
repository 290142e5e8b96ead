package node

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/server/servertest"
)

// scriptedRuntime answers the CRI calls the registrar makes (Status,
// Version, ListImages) from what the test sets; any other call panics
// through the nil embedded interfaces, so the test notices if the
// registrar starts depending on more of the runtime.
type scriptedRuntime struct {
	internalapi.RuntimeService
	internalapi.ImageManagerService
	networkReady atomic.Bool
}

func (r *scriptedRuntime) Status(context.Context, bool) (*runtimeapi.StatusResponse, error) {
	network := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if !r.networkReady.Load() {
		network = &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Reason: "NetworkPluginNotReady", Message: "Network plugin returns error: cni plugin not initialized"}
	}
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true}, network,
	}}}, nil
}

// Close resolves the method both embedded interfaces declare.
func (r *scriptedRuntime) Close(context.Context) error { return nil }

func (r *scriptedRuntime) Version(context.Context, string) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "2.4.2", RuntimeApiVersion: "v1"}, nil
}

func (r *scriptedRuntime) ListImages(context.Context, *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	return []*runtimeapi.Image{{Id: "sha256:1", RepoTags: []string{"kite.local/pause:3.10"}, Size: 700000}}, nil
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func nodeCondition(n *corev1.Node, ty corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == ty {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func TestIntegrationRegistration(t *testing.T) {
	s := servertest.Start(t)
	rt := &scriptedRuntime{}
	cfg := Config{
		NodeName: "worker-1", Client: s.Client, NodeIPs: []net.IP{net.ParseIP("10.0.0.5")}, Hostname: "worker-1",
		Labels: map[string]string{"tier": "edge"}, Taints: []corev1.Taint{{Key: "dedicated", Value: "edge", Effect: corev1.TaintEffectNoSchedule}},
		ControlPlane: true, KubeletPort: 10250, Runtime: rt, Images: rt, DataDir: t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	registrar := New(cfg)
	done := make(chan error, 1)
	go func() { done <- registrar.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stop()
		}
	}()
	nodes := s.Client.CoreV1().Nodes()
	var node *corev1.Node
	waitUntil(t, 10*time.Second, "the node to register", func() (bool, error) {
		var err error
		node, err = nodes.Get(context.Background(), "worker-1", metav1.GetOptions{})
		return err == nil && nodeCondition(node, corev1.NodeReady) != nil, err
	})

	for k, v := range map[string]string{"kubernetes.io/hostname": "worker-1", "kubernetes.io/os": "linux", "tier": "edge", controlPlaneLabel: "true"} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "dedicated" {
		t.Errorf("taints = %+v", node.Spec.Taints)
	}
	ready := nodeCondition(node, corev1.NodeReady)
	if ready.Status != corev1.ConditionFalse || ready.Message != "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized" {
		t.Errorf("Ready before the network: %+v", ready)
	}
	info := node.Status.NodeInfo
	if info.ContainerRuntimeVersion != "containerd://2.4.2" || info.KubeletVersion != KubeletVersion || info.OperatingSystem != "linux" || info.KernelVersion == "" || info.BootID == "" {
		t.Errorf("nodeInfo = %+v", info)
	}
	if node.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("kubelet port = %d", node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	}
	if len(node.Status.Addresses) != 2 || node.Status.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.5"}) {
		t.Errorf("addresses = %+v", node.Status.Addresses)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
		if q, ok := node.Status.Allocatable[r]; !ok || q.Sign() <= 0 {
			t.Errorf("allocatable %s = %v", r, q.String())
		}
	}
	if len(node.Status.Images) != 1 || node.Status.Images[0].Names[0] != "kite.local/pause:3.10" {
		t.Errorf("images = %+v", node.Status.Images)
	}

	t.Run("lease", func(t *testing.T) {
		lease, err := s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), "worker-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *lease.Spec.HolderIdentity != "worker-1" || *lease.Spec.LeaseDurationSeconds != 40 || lease.Spec.RenewTime == nil {
			t.Errorf("lease spec = %+v", lease.Spec)
		}
		if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != node.UID || lease.OwnerReferences[0].Kind != "Node" {
			t.Errorf("lease owner = %+v", lease.OwnerReferences)
		}
	})

	t.Run("ready follows the network", func(t *testing.T) {
		rt.networkReady.Store(true)
		start := time.Now()
		waitUntil(t, 5*time.Second, "Ready=True", func() (bool, error) {
			n, err := nodes.Get(context.Background(), "worker-1", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			c := nodeCondition(n, corev1.NodeReady)
			return c.Status == corev1.ConditionTrue && c.Reason == "KubeletReady" && c.Message == "kubelet is posting ready status", nil
		})
		t.Logf("Ready %v after the network", time.Since(start).Round(10*time.Millisecond))
	})

	t.Run("pod CIDR", func(t *testing.T) {
		got := make(chan string, 1)
		go func() {
			cidr, err := registrar.WaitForPodCIDR(ctx)
			if err != nil {
				t.Error(err)
			}
			got <- cidr
		}()
		patch := []byte(`{"spec":{"podCIDR":"10.42.3.0/24","podCIDRs":["10.42.3.0/24"]}}`)
		if _, err := nodes.Patch(context.Background(), "worker-1", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case cidr := <-got:
			if cidr != "10.42.3.0/24" {
				t.Errorf("pod CIDR %q", cidr)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WaitForPodCIDR did not return")
		}
	})

	t.Run("re-registration keeps the spec", func(t *testing.T) {
		stop()
		n, err := nodes.Get(context.Background(), "worker-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Spec.Taints = nil // an administrator removed the taint
		if _, err := nodes.Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cfg.Labels = map[string]string{"tier": "core"}
		ctx2, cancel2 := context.WithCancel(context.Background())
		done2 := make(chan error, 1)
		go func() { done2 <- New(cfg).Run(ctx2) }()
		defer func() {
			cancel2()
			select {
			case <-done2:
			case <-time.After(10 * time.Second):
				t.Error("second Run did not return")
			}
		}()
		waitUntil(t, 10*time.Second, "the label update", func() (bool, error) {
			n, err := nodes.Get(context.Background(), "worker-1", metav1.GetOptions{})
			return err == nil && n.Labels["tier"] == "core", err
		})
		n, _ = nodes.Get(context.Background(), "worker-1", metav1.GetOptions{})
		if len(n.Spec.Taints) != 0 || n.Spec.PodCIDR != "10.42.3.0/24" {
			t.Errorf("spec changed on re-registration: %+v", n.Spec)
		}
	})
}
