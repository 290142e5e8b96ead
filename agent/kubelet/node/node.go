package node

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	// statusCheckInterval is how often the status is recomputed; it is
	// written when something changed, or every statusReportInterval.
	statusCheckInterval  = 10 * time.Second
	statusReportInterval = 5 * time.Minute
	// Until the runtime is ready it is asked again after 100 ms, doubling
	// up to a second, so a starting node turns Ready within a moment of
	// its pod network appearing; once ready, every 10 seconds.
	runtimePollFirst    = 100 * time.Millisecond
	runtimePollNotReady = time.Second
	runtimePollReady    = 10 * time.Second
	criTimeout          = 5 * time.Second
)

// Node registers this machine and keeps its Node and Lease current.
type Node struct {
	cfg  Config
	host host
	log  *slog.Logger

	diskPressure atomic.Bool
	// wake asks the status loop for an update now (runtime readiness
	// changed).
	wake chan struct{}

	mu       sync.Mutex
	notReady string // latest runtime readiness; "" when ready
	uid      types.UID
	current  *corev1.Node // as last read or written
	reported time.Time    // when the status was last written
}

// New returns a registrar for cfg; Run does the work.
func New(cfg Config) *Node {
	if cfg.KubeletPort == 0 {
		cfg.KubeletPort = 10250
	}
	if cfg.Eviction == nil {
		defaults := DefaultEvictionThresholds()
		cfg.Eviction = &defaults
	}
	return &Node{
		cfg:      cfg,
		host:     host{root: "/"},
		log:      slog.Default().With("component", "node-status", "node", cfg.NodeName),
		wake:     make(chan struct{}, 1),
		notReady: notYetChecked,
	}
}

// DiskPressure reports whether the node's file system is short of space
// or inodes (the kubelet's image garbage collector acts on it).
func (n *Node) DiskPressure() bool { return n.diskPressure.Load() }

// Run registers the Node, then keeps its status and heartbeat current
// until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	n.checkRuntime(ctx)
	if err := n.registerUntilDone(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	hb := &heartbeat{n: n}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); hb.run(ctx, n.nodeUID) }()
	go func() { defer wg.Done(); n.watchRuntime(ctx) }()
	defer wg.Wait()

	ticker := time.NewTicker(statusCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-n.wake:
		}
		if err := n.syncStatus(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("updating node status", "err", err)
		}
	}
}

func (n *Node) nodeUID() types.UID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.uid
}

// registerUntilDone retries registration (the API server may still be
// starting, or the node's credentials not yet authorised) with a capped
// backoff.
func (n *Node) registerUntilDone(ctx context.Context) error {
	wait := 200 * time.Millisecond
	for {
		node, err := n.register(ctx, n.desiredStatus(corev1.NodeStatus{}, n.observe(ctx), metav1.Now()))
		if err == nil {
			n.mu.Lock()
			n.uid, n.current, n.reported = node.UID, node, time.Now()
			n.mu.Unlock()
			// The existing Node's status may be stale or missing: write ours.
			if err := n.syncStatus(ctx); err != nil {
				n.log.Warn("updating node status after registration", "err", err)
			}
			return nil
		}
		n.log.Warn("registering node; will retry", "err", err, "retry", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 7*time.Second)
	}
}

// syncStatus writes the node's status when it changed or is due.
func (n *Node) syncStatus(ctx context.Context) error {
	n.mu.Lock()
	current := n.current
	due := time.Since(n.reported) >= statusReportInterval
	n.mu.Unlock()
	o := n.observe(ctx)
	for attempt := 0; attempt < 3; attempt++ {
		if current == nil {
			fresh, err := n.cfg.Client.CoreV1().Nodes().Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				// Deleted under us (kubectl delete node): register again.
				return n.registerUntilDone(ctx)
			}
			if err != nil {
				return fmt.Errorf("reading node: %w", err)
			}
			current = fresh
			due = true
		}
		status := n.desiredStatus(current.Status, o, metav1.Now())
		if !due && statusEqual(current.Status, status) {
			return nil
		}
		next := current.DeepCopy()
		next.Status = status
		updated, err := n.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, next, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			current = nil
			continue
		}
		if err != nil {
			return fmt.Errorf("writing node status: %w", err)
		}
		n.mu.Lock()
		n.current, n.uid, n.reported = updated, updated.UID, time.Now()
		n.mu.Unlock()
		return nil
	}
	n.mu.Lock()
	n.current = nil
	n.mu.Unlock()
	return fmt.Errorf("writing node status: the node kept changing")
}

// statusEqual compares what the node reports, ignoring heartbeat times.
func statusEqual(a, b corev1.NodeStatus) bool {
	if !sameConditions(a.Conditions, b.Conditions) {
		return false
	}
	a, b = *a.DeepCopy(), *b.DeepCopy()
	a.Conditions, b.Conditions = nil, nil
	return equality.Semantic.DeepEqual(a, b)
}

// observe looks at the machine and asks the runtime for its version and
// images.
func (n *Node) observe(ctx context.Context) observation {
	o := observation{
		eviction:   *n.cfg.Eviction,
		cpus:       runtime.NumCPU(),
		hugepages:  n.host.hugepages(),
		machineID:  n.host.readTrimmed("/etc/machine-id"),
		systemUUID: n.host.readTrimmed("/sys/class/dmi/id/product_uuid"),
		bootID:     n.host.readTrimmed("/proc/sys/kernel/random/boot_id"),
		kernel:     kernelRelease(),
		osImage:    n.host.osImage(),
	}
	var err error
	if o.meminfo, err = n.host.meminfo(); err != nil {
		n.log.Warn("reading memory", "err", err)
	}
	if fs, err := statFS(n.cfg.DataDir); err != nil {
		n.log.Warn("measuring the data directory", "err", err)
	} else {
		o.fs = &fs
	}
	if o.pidLimit, o.pidUsed, err = n.host.pids(); err != nil {
		n.log.Warn("counting processes", "err", err)
	}
	n.diskPressure.Store(o.pressure().disk)

	n.mu.Lock()
	o.notReady = n.notReady
	n.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	if v, err := n.cfg.Runtime.Version(cctx, "v1"); err == nil {
		o.runtimeVersion = v.GetRuntimeName() + "://" + v.GetRuntimeVersion()
	} else {
		n.log.Warn("reading the container runtime version", "err", err)
	}
	if imgs, err := n.cfg.Images.ListImages(cctx, &runtimeapi.ImageFilter{}); err == nil {
		o.images = imgs
	} else {
		n.log.Warn("listing images", "err", err)
	}
	return o
}

// watchRuntime asks the runtime whether it and its network are ready:
// often until they are (runtimePollFirst, doubling up to a second), then
// every ten seconds. A change wakes the status loop, so Ready follows at
// once.
func (n *Node) watchRuntime(ctx context.Context) {
	notReadyWait := runtimePollFirst
	for {
		wait := runtimePollReady
		if n.checkRuntime(ctx) {
			notReadyWait = runtimePollFirst
		} else {
			wait = notReadyWait
			notReadyWait = min(notReadyWait*2, runtimePollNotReady)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// checkRuntime records the runtime's readiness, wakes the status loop if
// it changed, and reports whether the runtime is ready.
func (n *Node) checkRuntime(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, criTimeout)
	resp, err := n.cfg.Runtime.Status(cctx, false)
	cancel()
	problem := runtimeProblem(resp, err)
	n.mu.Lock()
	changed := problem != n.notReady
	n.notReady = problem
	n.mu.Unlock()
	if changed {
		if problem == "" {
			n.log.Info("container runtime and network are ready")
		} else {
			n.log.Info("container runtime not ready", "reason", problem)
		}
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	return problem == ""
}
