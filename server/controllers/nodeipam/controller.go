// Package nodeipam gives every Node its pod CIDR (spec.podCIDR and
// spec.podCIDRs), a subnet of the cluster CIDR, as kube-controller-manager's
// node IPAM controller does with its range allocator: one subnet per
// cluster CIDR (so a dual-stack cluster gets one of each family), released
// when the Node goes away.
package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// Node subnet sizes, k3s's defaults (--node-cidr-mask-size-ipv4/-ipv6).
const (
	IPv4MaskSize = 24
	IPv6MaskSize = 64
)

// Config says what the controller hands out.
type Config struct {
	// ClusterCIDRs are the pod ranges, at most one per IP family.
	ClusterCIDRs []*net.IPNet
	// ServiceCIDRs are kept out of the pod subnets where they overlap.
	ServiceCIDRs []*net.IPNet
}

// Validate checks that the ranges can be split into node subnets.
func (c Config) Validate() error {
	_, err := c.ranges()
	return err
}

func (c Config) ranges() ([]*subnets, error) {
	if len(c.ClusterCIDRs) == 0 {
		return nil, fmt.Errorf("no cluster CIDR to allocate node pod CIDRs from")
	}
	if len(c.ClusterCIDRs) > 2 || len(c.ClusterCIDRs) == 2 && isIPv4(c.ClusterCIDRs[0]) == isIPv4(c.ClusterCIDRs[1]) {
		return nil, fmt.Errorf("cluster CIDRs %v: at most one per IP family", c.ClusterCIDRs)
	}
	var out []*subnets
	for _, cidr := range c.ClusterCIDRs {
		mask := IPv6MaskSize
		if isIPv4(cidr) {
			mask = IPv4MaskSize
		}
		r, err := newSubnets(cidr, mask)
		if err != nil {
			return nil, err
		}
		for _, svc := range c.ServiceCIDRs {
			if isIPv4(svc) == isIPv4(cidr) && r.overlaps(svc) {
				if err := r.occupy(svc); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func isIPv4(n *net.IPNet) bool { return n.IP.To4() != nil }

// Controller is the node IPAM controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	informer cache.SharedIndexInformer
	recorder events.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string] // node names
	log      *slog.Logger

	mu       sync.Mutex
	ranges   []*subnets
	assigned map[string]assignment // by node name
}

// assignment is the pod CIDRs one Node holds, or that this controller
// gave it and is still writing.
type assignment struct {
	uid   types.UID
	cidrs []*net.IPNet // one per range, in range order
}

// New returns a controller handing out subnets of cfg's ranges; cfg must
// have passed Validate.
func New(cc *controllers.Context, cfg Config) *Controller {
	inf := cc.Informers.Core().V1().Nodes()
	return &Controller{
		cfg:      cfg,
		client:   cc.Client,
		nodes:    inf.Lister(),
		informer: inf.Informer(),
		// Upstream's event source name for this allocator.
		recorder: cc.Recorder("cidrAllocator"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cidrallocator_node"}),
		log:      slog.Default().With("component", "node-ipam-controller"),
		assigned: map[string]assignment{},
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	ranges, err := c.cfg.ranges()
	if err != nil {
		c.log.Error("cannot allocate node pod CIDRs", "err", err)
		return
	}
	c.ranges = ranges
	enqueue := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if node, ok := obj.(*corev1.Node); ok {
			c.queue.Add(node.Name)
		}
	}
	synced := controllers.Handle(ctx, c.informer, cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	})
	if !cache.WaitForCacheSync(ctx.Done(), synced) {
		return
	}
	// The informer may not yet hold what the previous leader wrote just
	// before it lost the lease; a consistent read does, so no subnet it
	// handed out is handed out again.
	if err := c.occupyExisting(ctx); err != nil {
		c.log.Error("reading the nodes' pod CIDRs", "err", err)
		return
	}
	controllers.RunWorkers(ctx, c.queue, 1, c.sync, c.log)
}

// occupyExisting marks the pod CIDRs every Node already has as taken.
func (c *Controller) occupyExisting(ctx context.Context) error {
	list, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range list.Items {
		node := &list.Items[i]
		cidrs, err := c.parseNodeCIDRs(node)
		if err != nil {
			c.log.Warn("node has pod CIDRs this cluster cannot hand out; leaving them alone", "node", node.Name, "podCIDRs", node.Spec.PodCIDRs, "err", err)
			continue
		}
		if len(cidrs) > 0 {
			c.hold(node.Name, node.UID, cidrs)
		}
	}
	return nil
}

// sync makes the node's subnets and the controller's records agree, and
// gives a node without subnets its own.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(name, "")
		return nil
	}
	if err != nil {
		return err
	}
	if node.DeletionTimestamp != nil {
		return nil
	}
	c.forget(name, node.UID) // a Node of the same name that was replaced

	existing, err := c.parseNodeCIDRs(node)
	if err != nil {
		c.log.Warn("node has pod CIDRs this cluster cannot hand out; leaving them alone", "node", name, "podCIDRs", node.Spec.PodCIDRs, "err", err)
		return nil
	}
	if len(existing) > 0 {
		c.mu.Lock()
		c.hold(name, node.UID, existing)
		c.mu.Unlock()
		return nil
	}
	cidrs, err := c.allocate(node)
	if err != nil {
		c.recorder.Eventf(node, nil, corev1.EventTypeNormal, "CIDRNotAvailable", "CIDRNotAvailable", "Node %s status is now: %s", node.Name, "CIDRNotAvailable")
		return fmt.Errorf("allocating a pod CIDR for node %s: %w", name, err)
	}
	return c.patch(ctx, node, cidrs)
}

// allocate returns the subnets handed to node: those it was given before
// (the informer may not show the write yet) or new ones.
func (c *Controller) allocate(node *corev1.Node) ([]*net.IPNet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.assigned[node.Name]; ok && a.uid == node.UID {
		return a.cidrs, nil
	}
	var cidrs []*net.IPNet
	for _, r := range c.ranges {
		cidr, err := r.allocate()
		if err != nil {
			for i, got := range cidrs {
				_ = c.ranges[i].release(got)
			}
			return nil, err
		}
		cidrs = append(cidrs, cidr)
	}
	c.assigned[node.Name] = assignment{uid: node.UID, cidrs: cidrs}
	return cidrs, nil
}

// patch writes the node's subnets. The UID in the patch makes it fail on
// a Node that was replaced meanwhile; the API refuses to change a pod CIDR
// that is already set, so two writers can never both win.
func (c *Controller) patch(ctx context.Context, node *corev1.Node, cidrs []*net.IPNet) error {
	strs := make([]string, len(cidrs))
	for i, cidr := range cidrs {
		strs[i] = cidr.String()
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": node.UID},
		"spec":     map[string]any{"podCIDR": strs[0], "podCIDRs": strs},
	})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	switch {
	case err == nil:
		c.log.Info("set node pod CIDR", "node", node.Name, "podCIDRs", strs)
		return nil
	case apierrors.IsNotFound(err):
		c.forget(node.Name, "")
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsConflict(err):
		// Someone else set the CIDRs, or the Node was replaced: give
		// ours back and look again at what the Node now says.
		c.forget(node.Name, "")
		return fmt.Errorf("setting pod CIDRs %v of node %s: %w", strs, node.Name, err)
	default:
		// Kept: the retry writes the same subnets.
		return fmt.Errorf("setting pod CIDRs %v of node %s: %w", strs, node.Name, err)
	}
}

// hold records cidrs as node's, marking them taken. Callers hold mu.
func (c *Controller) hold(name string, uid types.UID, cidrs []*net.IPNet) {
	if a, ok := c.assigned[name]; ok {
		if a.uid == uid && sameCIDRs(a.cidrs, cidrs) {
			return
		}
		c.releaseLocked(a)
	}
	for i, cidr := range cidrs {
		if c.ranges[i].isUsed(cidr) {
			c.log.Warn("pod CIDR is held by more than one node", "node", name, "podCIDR", cidr.String())
		}
		_ = c.ranges[i].occupy(cidr)
	}
	c.assigned[name] = assignment{uid: uid, cidrs: cidrs}
}

// forget releases the subnets recorded for node name unless they belong
// to the Node with UID keep; nodes still waiting for a subnet are looked
// at again when one comes free.
func (c *Controller) forget(name string, keep types.UID) {
	c.mu.Lock()
	a, ok := c.assigned[name]
	if !ok || keep != "" && a.uid == keep {
		c.mu.Unlock()
		return
	}
	delete(c.assigned, name)
	c.releaseLocked(a)
	c.mu.Unlock()
	c.log.Info("released node pod CIDR", "node", name, "podCIDRs", a.cidrs)
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if len(n.Spec.PodCIDRs) == 0 && n.Spec.PodCIDR == "" && n.Name != name {
			c.queue.Add(n.Name)
		}
	}
}

func (c *Controller) releaseLocked(a assignment) {
	for i, cidr := range a.cidrs {
		_ = c.ranges[i].release(cidr)
	}
}

// parseNodeCIDRs returns node's pod CIDRs in range order; an error means
// they do not match the cluster's ranges.
func (c *Controller) parseNodeCIDRs(node *corev1.Node) ([]*net.IPNet, error) {
	strs := node.Spec.PodCIDRs
	if len(strs) == 0 && node.Spec.PodCIDR != "" {
		strs = []string{node.Spec.PodCIDR}
	}
	if len(strs) == 0 {
		return nil, nil
	}
	if len(strs) > len(c.ranges) {
		return nil, fmt.Errorf("%d pod CIDRs for %d cluster CIDRs", len(strs), len(c.ranges))
	}
	out := make([]*net.IPNet, len(strs))
	for i, s := range strs {
		_, cidr, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("parsing pod CIDR %q: %w", s, err)
		}
		if _, _, err := c.ranges[i].span(cidr); err != nil {
			return nil, err
		}
		out[i] = cidr
	}
	return out, nil
}

func sameCIDRs(a, b []*net.IPNet) bool {
	return slices.EqualFunc(a, b, func(x, y *net.IPNet) bool { return x.String() == y.String() })
}
