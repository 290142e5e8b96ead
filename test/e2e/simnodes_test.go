package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// brokenImage is an image the simulated kubelet never manages to start:
// its pods stay Pending with ImagePullBackOff, as with a bad tag.
const brokenImage = "registry.local/broken:none"

// simNodes plays the kubelet for Node objects that have no machine behind
// them (the agent is another part; the control plane is tested the way
// upstream tests it, with nodes simulated through the API): it registers
// the nodes, renews their Leases, starts the pods bound to them (Running
// and Ready at once; pods that do not restart always succeed a moment
// later) and finishes their graceful deletion.
type simNodes struct {
	client kubernetes.Interface
	names  map[string]bool
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped map[string]bool // nodes whose kubelet "died": no heartbeats, no pod work
	nextIP  int
}

func startSimNodes(t *testing.T, s *kiteServer, names ...string) *simNodes {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.UserAgent = "e2e-simulated-kubelet"
	n := &simNodes{client: kubernetes.NewForConfigOrDie(cfg), names: map[string]bool{}, stopped: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	t.Cleanup(n.stop)
	for _, name := range names {
		n.names[name] = true
		if err := n.register(ctx, name); err != nil {
			t.Fatalf("registering node %s: %v", name, err)
		}
	}
	n.wg.Add(2)
	go n.heartbeat(ctx)
	go n.runPods(ctx)
	return n
}

func (n *simNodes) stop() {
	n.cancel()
	n.wg.Wait()
}

// kill stops one node's kubelet, as if its machine lost power.
func (n *simNodes) kill(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped[name] = true
}

func (n *simNodes) alive(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.names[name] && !n.stopped[name]
}

func (n *simNodes) register(ctx context.Context, name string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		}},
	}
	if _, err := n.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return err
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110"),
	}
	// The node IPAM controller writes the new Node's pod CIDR meanwhile.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := n.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		cur.Status = corev1.NodeStatus{
			Capacity: resources, Allocatable: resources,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}},
		}
		_, err = n.client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// heartbeat renews each live node's Lease in kube-node-lease, as the
// kubelet does every 10 s (here every 2 s, to keep tests short).
func (n *simNodes) heartbeat(ctx context.Context) {
	defer n.wg.Done()
	leases := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	for {
		for name := range n.names {
			if !n.alive(name) {
				continue
			}
			now := metav1.NewMicroTime(time.Now())
			lease, err := leases.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				_, _ = leases.Create(ctx, &coordinationv1.Lease{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
				}, metav1.CreateOptions{})
				continue
			}
			if err == nil {
				lease.Spec.RenewTime = &now
				_, _ = leases.Update(ctx, lease, metav1.UpdateOptions{})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// runPods moves pods bound to live simulated nodes along their life.
func (n *simNodes) runPods(ctx context.Context) {
	defer n.wg.Done()
	factory := informers.NewSharedInformerFactoryWithOptions(n.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	}))
	work := make(chan *corev1.Pod, 1024)
	handle := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && n.alive(p.Spec.NodeName) {
			select {
			case work <- p:
			case <-ctx.Done():
			}
		}
	}
	_, _ = factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: handle, UpdateFunc: func(_, obj any) { handle(obj) },
	})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-work:
			n.step(ctx, p)
		}
	}
}

// step moves one pod one step: a deleted pod is gone, a new pod runs (or
// waits on its broken image), and a pod that does not restart always
// finishes successfully.
func (n *simNodes) step(ctx context.Context, p *corev1.Pod) {
	pods := n.client.CoreV1().Pods(p.Namespace)
	switch {
	case p.DeletionTimestamp != nil:
		_ = pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &p.UID}})
	case p.Status.StartTime == nil:
		p = p.DeepCopy()
		n.start(p)
		_, _ = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	case p.Status.Phase == corev1.PodRunning && p.Spec.RestartPolicy != corev1.RestartPolicyAlways:
		p = p.DeepCopy()
		now := metav1.Now()
		p.Status.Phase = corev1.PodSucceeded
		p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodReady, corev1.ConditionFalse, "PodCompleted")
		p.Status.Conditions = setCondition(p.Status.Conditions, corev1.ContainersReady, corev1.ConditionFalse, "PodCompleted")
		for i := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[i]
			cs.Ready, cs.Started = false, ptr.To(false)
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}
		}
		_, _ = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
}

func (n *simNodes) start(p *corev1.Pod) {
	n.mu.Lock()
	n.nextIP++
	ip := fmt.Sprintf("10.42.%d.%d", n.nextIP/250, n.nextIP%250+2)
	n.mu.Unlock()
	now := metav1.Now()
	broken := false
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sha256:" + strings.Repeat("0", 64)}
		if c.Image == brokenImage {
			broken = true
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image " + c.Image}}
		} else {
			cs.Ready, cs.Started = true, ptr.To(true)
			cs.ContainerID = "containerd://" + p.Name
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
	p.Status.HostIP, p.Status.PodIP = "192.0.2.1", ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.StartTime = &now
	p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodInitialized, corev1.ConditionTrue, "")
	if broken {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady")
		p.Status.Conditions = setCondition(p.Status.Conditions, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady")
		return
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodReady, corev1.ConditionTrue, "")
	p.Status.Conditions = setCondition(p.Status.Conditions, corev1.ContainersReady, corev1.ConditionTrue, "")
}

func setCondition(conds []corev1.PodCondition, typ corev1.PodConditionType, status corev1.ConditionStatus, reason string) []corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == typ {
			if conds[i].Status != status {
				conds[i].LastTransitionTime = metav1.Now()
			}
			conds[i].Status, conds[i].Reason = status, reason
			return conds
		}
	}
	return append(conds, corev1.PodCondition{Type: typ, Status: status, Reason: reason, LastTransitionTime: metav1.Now()})
}
