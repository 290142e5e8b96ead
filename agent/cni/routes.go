package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// RouteProtocol tags every route kite adds (the rtm_protocol field, shown
// as "proto 75" by `ip route`), so kite only ever changes or removes its own
// routes. 75 is not used by any routing daemon in iproute2's rt_protos.
const RouteProtocol netlink.RouteProtocol = 75

// syncKey is the only work-queue key: every change leads to one comparison
// of all nodes with the kernel's routes, so bursts of node updates coalesce.
const syncKey = "routes"

// RoutesConfig configures a Routes controller.
type RoutesConfig struct {
	// Client reads Nodes.
	Client kubernetes.Interface
	// NodeName is this node; it gets no route to its own pod CIDR (the
	// bridge's connected route covers it).
	NodeName string
	// NetnsPath is the network namespace whose routes are managed, e.g.
	// /var/run/netns/x; empty means the agent's own.
	NetnsPath string
}

// Routes keeps a kernel route "<podCIDR> via <InternalIP>" for every other
// node whose InternalIP is on a directly connected network, replaces it when
// the node's pod CIDR or address changes and removes it when the node goes.
type Routes struct {
	nodeName  string
	netnsPath string
	handle    *netlink.Handle
	ns        netns.NsHandle // the managed namespace; netns.None() for our own
	factory   informers.SharedInformerFactory
	nodes     listersv1.NodeLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger

	skipped map[string]string // node -> why it has no route, as last logged; used by the single worker only
}

// NewRoutes builds the controller; Run starts it.
func NewRoutes(cfg RoutesConfig) (*Routes, error) {
	if cfg.Client == nil || cfg.NodeName == "" {
		return nil, errors.New("routes controller needs a client and the node name")
	}
	r := &Routes{
		nodeName:  cfg.NodeName,
		netnsPath: cfg.NetnsPath,
		ns:        netns.None(),
		log:       slog.With("component", "cni-routes"),
		skipped:   map[string]string{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// Capped at 30 s so routes return soon after a link comes back.
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cni-routes"}),
	}
	var err error
	if cfg.NetnsPath != "" {
		if r.ns, err = netns.GetFromPath(cfg.NetnsPath); err != nil {
			return nil, fmt.Errorf("open network namespace %s: %w", cfg.NetnsPath, err)
		}
		r.handle, err = netlink.NewHandleAt(r.ns)
	} else {
		r.handle, err = netlink.NewHandle()
	}
	if err != nil {
		r.closeNetns()
		return nil, fmt.Errorf("open netlink: %w", err)
	}

	r.factory = informers.NewSharedInformerFactory(cfg.Client, 0)
	informer := r.factory.Core().V1().Nodes()
	if err := informer.Informer().SetTransform(slimNode); err != nil {
		r.Close()
		return nil, fmt.Errorf("set node transform: %w", err)
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { r.queue.Add(syncKey) },
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Node)
			updated, ok2 := newObj.(*corev1.Node)
			if !ok1 || !ok2 || routingChanged(old, updated) {
				r.queue.Add(syncKey)
			}
		},
		DeleteFunc: func(any) { r.queue.Add(syncKey) },
	}); err != nil {
		r.Close()
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	r.nodes = informer.Lister()
	r.synced = informer.Informer().HasSynced
	return r, nil
}

// Run keeps the routes in sync until ctx ends. The routes stay in place
// afterwards, so pod traffic keeps flowing across an agent restart.
func (r *Routes) Run(ctx context.Context) error {
	defer r.queue.ShutDown()
	r.factory.Start(ctx.Done())
	defer r.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), r.synced) {
		return fmt.Errorf("wait for node cache: %w", ctx.Err())
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.watchKernel(ctx) })
	r.queue.Add(syncKey)
	go func() {
		<-ctx.Done()
		r.queue.ShutDown()
	}()
	for r.processNext(ctx) {
	}
	wg.Wait()
	return nil
}

func (r *Routes) processNext(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	if err := r.sync(); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("syncing routes to other nodes failed; retrying", "err", err)
		}
		r.queue.AddRateLimited(key)
		return true
	}
	r.queue.Forget(key)
	return true
}

// sync moves the kernel's kite routes to the plan for the current nodes.
func (r *Routes) sync() error {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	connected, err := r.connectedNets()
	if err != nil {
		return err
	}
	planned, skipped := planRoutes(r.nodeName, nodes, connected)

	all, err := r.handle.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	ours := map[string]netlink.Route{}
	foreign := map[string]netlink.Route{}
	for _, rt := range all {
		if rt.Dst == nil {
			continue
		}
		if rt.Protocol == RouteProtocol {
			ours[rt.Dst.String()] = rt
		} else {
			foreign[rt.Dst.String()] = rt
		}
	}

	wanted := map[string]bool{}
	var apply []nodeRoute
	for _, p := range planned {
		dst := p.dst.String()
		if other, taken := foreign[dst]; taken {
			skipped[p.node] = fmt.Sprintf("a route to its pod CIDR %s that kite did not add already exists (via %s, protocol %d)", dst, other.Gw, other.Protocol)
			continue
		}
		wanted[dst] = true
		apply = append(apply, p)
	}
	r.logSkipped(skipped)

	var errs []error
	for _, p := range apply {
		dst := p.dst.String()
		if cur, ok := ours[dst]; ok && cur.Gw.Equal(p.gateway) && cur.LinkIndex == p.linkIndex {
			continue
		}
		route := &netlink.Route{
			Dst:       p.dst,
			Gw:        p.gateway,
			LinkIndex: p.linkIndex,
			Protocol:  RouteProtocol,
			Table:     unix.RT_TABLE_MAIN,
		}
		if err := r.handle.RouteReplace(route); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", dst, p.gateway, err))
			continue
		}
		r.log.Info("route to node's pods set", "node", p.node, "podCIDR", dst, "via", p.gateway.String())
	}
	for dst, rt := range ours {
		if wanted[dst] {
			continue
		}
		if err := r.handle.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s: %w", dst, err))
			continue
		}
		r.log.Info("route to departed node's pods removed", "podCIDR", dst)
	}
	return errors.Join(errs...)
}

// connectedNets lists the subnets of the addresses on up, non-loopback
// interfaces (the pod bridge excluded: other nodes are never behind it).
func (r *Routes) connectedNets() ([]connectedNet, error) {
	links, err := r.handle.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	usable := map[int]bool{}
	for _, l := range links {
		a := l.Attrs()
		usable[a.Index] = a.Flags&net.FlagUp != 0 && a.Flags&net.FlagLoopback == 0 && a.Name != BridgeName
	}
	addrs, err := r.handle.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []connectedNet
	for _, a := range addrs {
		if !usable[a.LinkIndex] || a.IPNet == nil || a.IP.IsLinkLocalUnicast() {
			continue
		}
		subnet := &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask}
		out = append(out, connectedNet{linkIndex: a.LinkIndex, addr: a.IP, subnet: subnet})
	}
	return out, nil
}

// logSkipped logs each node without a route once per distinct reason, and
// forgets nodes that got a route or left.
func (r *Routes) logSkipped(skipped map[string]string) {
	for node, reason := range skipped {
		if r.skipped[node] != reason {
			r.log.Warn("no route to node's pods", "node", node, "reason", reason)
		}
	}
	r.skipped = skipped
}

// watchKernel requeues a sync when addresses change (a subnet may have
// appeared or gone) or when one of our routes disappears (the kernel drops
// routes through an interface that goes down).
func (r *Routes) watchKernel(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		done := make(chan struct{})
		defer close(done)
		addrs := make(chan netlink.AddrUpdate, 64)
		routes := make(chan netlink.RouteUpdate, 256)
		var nsOpt *netns.NsHandle
		if r.netnsPath != "" {
			nsOpt = &r.ns
		}
		if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{Namespace: nsOpt}); err != nil {
			r.log.Warn("cannot watch interface addresses", "err", err)
			return
		}
		if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{Namespace: nsOpt}); err != nil {
			r.log.Warn("cannot watch routes", "err", err)
			return
		}
		// Anything may have changed while no subscription was open.
		r.queue.Add(syncKey)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-addrs:
				if !ok {
					return
				}
				r.queue.Add(syncKey)
			case u, ok := <-routes:
				if !ok {
					return
				}
				if u.Type == unix.RTM_DELROUTE && u.Protocol == RouteProtocol {
					r.queue.Add(syncKey)
				}
			}
		}
	}, 5*time.Second)
}

// Cleanup removes every route kite added, in the managed namespace.
func (r *Routes) Cleanup() error {
	routes, err := r.handle.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: RouteProtocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("list kite routes: %w", err)
	}
	var errs []error
	for i := range routes {
		if err := r.handle.RouteDel(&routes[i]); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s: %w", routes[i].Dst, err))
		}
	}
	return errors.Join(errs...)
}

// Close releases the netlink socket and namespace handle. Call it after Run
// has returned (and after Cleanup, if used).
func (r *Routes) Close() {
	if r.handle != nil {
		r.handle.Close()
	}
	r.closeNetns()
}

func (r *Routes) closeNetns() {
	if r.ns.IsOpen() {
		r.ns.Close()
	}
}
