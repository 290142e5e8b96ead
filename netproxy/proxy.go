package netproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Config says what the proxy watches and for which node.
type Config struct {
	Client       kubernetes.Interface
	NodeName     string
	NodeIPs      []net.IP     // when empty, the node's InternalIP/ExternalIP addresses
	ClusterCIDRs []*net.IPNet // pod networks, for masquerade decisions
	// LocalServiceIPs are cluster IPs this node answers itself (the
	// cluster DNS, held on kite-local): their Services get no rules, which
	// would otherwise send that traffic elsewhere or reject it.
	LocalServiceIPs []net.IP
	MinSyncPeriod   time.Duration
	FullSyncPeriod  time.Duration
	Logger          *slog.Logger
}

// Defaults for the sync periods.
const (
	DefaultMinSyncPeriod  = time.Second
	DefaultFullSyncPeriod = time.Minute
)

// fullSyncCostFactor stretches the full-sync period to this many times
// the last full sync's duration when that is longer than FullSyncPeriod:
// with iptables at 10,000 Services a full sync takes seconds, and
// repairing tampering must not keep a core busy.
const fullSyncCostFactor = 20

// Backend is a data path: it turns a State into kernel rules.
type Backend interface {
	// Sync applies state; changed names the service ports whose rules changed since the last
	// successful Sync (nil means everything: a full sync).
	Sync(state *State, changed map[ServicePortName]bool) error
	Cleanup() error
}

// Proxy keeps a Backend in step with the cluster's Services.
type Proxy struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	watch   *watcher

	// mu guards the pending work the event handlers record.
	mu        sync.Mutex
	dirty     map[types.NamespacedName]bool
	nodeDirty bool
	kick      chan struct{}

	// Owned by the Run goroutine.
	nodeIPs      []netip.Addr
	clusterCIDRs []netip.Prefix
	localIPs     map[netip.Addr]bool
	current      map[ServicePortName]*ServicePort
	byService    map[types.NamespacedName][]ServicePortName
	applied      map[ServicePortName]*ServicePort // what the backend last accepted
}

// New prepares a proxy; nothing is watched or written until Run.
func New(cfg Config, backend Backend) (*Proxy, error) {
	if cfg.Client == nil {
		return nil, errors.New("netproxy: a Kubernetes client is required")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("netproxy: the node name is required")
	}
	if backend == nil {
		return nil, errors.New("netproxy: a backend is required")
	}
	if cfg.MinSyncPeriod <= 0 {
		cfg.MinSyncPeriod = DefaultMinSyncPeriod
	}
	if cfg.FullSyncPeriod <= 0 {
		cfg.FullSyncPeriod = DefaultFullSyncPeriod
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Proxy{
		cfg:       cfg,
		backend:   backend,
		log:       cfg.Logger.With("component", "netproxy"),
		dirty:     map[types.NamespacedName]bool{},
		kick:      make(chan struct{}, 1),
		current:   map[ServicePortName]*ServicePort{},
		byService: map[types.NamespacedName][]ServicePortName{},
	}
	for _, n := range cfg.ClusterCIDRs {
		prefix, err := toPrefix(n)
		if err != nil {
			return nil, fmt.Errorf("netproxy: cluster CIDR: %w", err)
		}
		p.clusterCIDRs = append(p.clusterCIDRs, prefix)
	}
	p.localIPs = map[netip.Addr]bool{}
	for _, ip := range cfg.LocalServiceIPs {
		if a, ok := netip.AddrFromSlice(ip); ok {
			p.localIPs[a.Unmap()] = true
		}
	}
	var err error
	if p.watch, err = newWatcher(cfg.Client, cfg.NodeName, len(cfg.NodeIPs) == 0, p); err != nil {
		return nil, err
	}
	return p, nil
}

// serviceChanged records that a Service or one of its slices changed.
func (p *Proxy) serviceChanged(key types.NamespacedName) {
	p.mu.Lock()
	p.dirty[key] = true
	p.mu.Unlock()
	p.poke()
}

// nodeChanged records that the node's own Node changed.
func (p *Proxy) nodeChanged() {
	p.mu.Lock()
	p.nodeDirty = true
	p.mu.Unlock()
	p.poke()
}

func (p *Proxy) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run watches the cluster and syncs the backend until ctx ends. The rules
// stay in place afterwards, so traffic keeps flowing across agent restarts.
func (p *Proxy) Run(ctx context.Context) error {
	if err := p.watch.start(ctx); err != nil {
		return err
	}
	p.log.Info("service proxy started", "node", p.cfg.NodeName,
		"minSyncPeriod", p.cfg.MinSyncPeriod, "fullSyncPeriod", p.cfg.FullSyncPeriod)
	return p.loop(ctx, time.Now)
}

// loop runs syncs: a change is applied at once unless the last sync began
// less than MinSyncPeriod ago, in which case it waits for that moment and
// is applied together with whatever else arrived meanwhile. Every
// FullSyncPeriod, or fullSyncCostFactor times the last full sync's
// duration if longer, (and after a failure) the backend rewrites
// everything.
func (p *Proxy) loop(ctx context.Context, now func() time.Time) error {
	full := true
	pending := true
	var lastSync time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	fullTicker := time.NewTicker(p.cfg.FullSyncPeriod)
	defer fullTicker.Stop()
	armed := true

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.kick:
			pending = true
		case <-fullTicker.C:
			pending, full = true, true
		case <-timer.C:
			armed = false
		}
		if !pending {
			continue
		}
		if wait := lastSync.Add(p.cfg.MinSyncPeriod).Sub(now()); wait > 0 {
			if !armed {
				timer.Reset(wait)
				armed = true
			}
			continue
		}
		lastSync = now()
		pending = false
		err := p.syncOnce(full)
		if full {
			fullTicker.Reset(max(p.cfg.FullSyncPeriod, fullSyncCostFactor*now().Sub(lastSync)))
		}
		if err != nil {
			p.log.Error("service proxy sync failed; retrying with a full sync", "err", err)
			pending, full = true, true
			if !armed {
				timer.Reset(p.cfg.MinSyncPeriod)
				armed = true
			}
			continue
		}
		full = false
	}
}

// syncOnce folds the recorded changes into the state and hands the backend
// what changed (everything when full).
func (p *Proxy) syncOnce(full bool) error {
	p.mu.Lock()
	dirty, nodeDirty := p.dirty, p.nodeDirty
	p.dirty, p.nodeDirty = map[types.NamespacedName]bool{}, false
	p.mu.Unlock()

	if nodeDirty || p.nodeIPs == nil {
		ips := p.resolveNodeIPs()
		if !equalAddrs(ips, p.nodeIPs) {
			full = true
		}
		p.nodeIPs = ips
	}
	touched := map[ServicePortName]bool{}
	for key := range dirty {
		for _, name := range p.byService[key] {
			touched[name] = true
			delete(p.current, name)
		}
		delete(p.byService, key)
		ports, err := p.watch.servicePorts(key, p.cfg.NodeName)
		if err != nil {
			return fmt.Errorf("read service %s: %w", key, err)
		}
		for _, sp := range ports {
			if p.servedLocally(sp) {
				continue
			}
			touched[sp.Name] = true
			p.current[sp.Name] = sp
			p.byService[key] = append(p.byService[key], sp.Name)
		}
	}

	var changed map[ServicePortName]bool
	if !full {
		changed = map[ServicePortName]bool{}
		for name := range touched {
			if !p.current[name].Equal(p.applied[name]) {
				changed[name] = true
			}
		}
		if len(changed) == 0 {
			return nil
		}
	}
	services := make(map[ServicePortName]*ServicePort, len(p.current))
	for name, sp := range p.current {
		services[name] = sp
	}
	state := &State{NodeName: p.cfg.NodeName, NodeIPs: p.nodeIPs, ClusterCIDRs: p.clusterCIDRs, Services: services}
	start := time.Now()
	if err := p.backend.Sync(state, changed); err != nil {
		// Whatever was recorded is folded into current already; the full
		// sync that follows applies it.
		return err
	}
	p.applied = services
	p.log.Debug("service proxy synced", "full", full, "changed", len(changed),
		"servicePorts", len(services), "took", time.Since(start))
	return nil
}

// servedLocally reports whether one of the service port's cluster IPs is
// answered on this node itself.
func (p *Proxy) servedLocally(sp *ServicePort) bool {
	for _, ip := range sp.ClusterIPs {
		if p.localIPs[ip] {
			return true
		}
	}
	return false
}

// resolveNodeIPs prefers the configured addresses, else the Node's own.
func (p *Proxy) resolveNodeIPs() []netip.Addr {
	var out []netip.Addr
	for _, ip := range p.cfg.NodeIPs {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	if len(out) == 0 {
		out = p.watch.nodeAddresses(p.cfg.NodeName)
	}
	if out == nil {
		out = []netip.Addr{}
	}
	return sortedUnique(out)
}

func equalAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// toPrefix converts a net.IPNet, in either of the forms net.ParseCIDR and
// hand-built values use for IPv4, to a masked netip.Prefix.
func toPrefix(n *net.IPNet) (netip.Prefix, error) {
	if n == nil {
		return netip.Prefix{}, errors.New("missing network")
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("bad address in %v", n)
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, fmt.Errorf("bad mask in %v", n)
	}
	if addr.Is4In6() {
		addr = addr.Unmap()
		if bits == 128 {
			ones -= 96
		}
	}
	if ones < 0 || ones > addr.BitLen() {
		return netip.Prefix{}, fmt.Errorf("mask of %v does not fit its address", n)
	}
	return netip.PrefixFrom(addr, ones).Masked(), nil
}
