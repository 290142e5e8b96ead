// Package kubelet runs the pods bound to one node on a CRI runtime: it
// watches them, creates their sandboxes and containers, restarts, probes and
// stops them, and reports their status, as the upstream kubelet does.
package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"kite/agent/kubelet/envvars"
	"kite/agent/kubelet/volume"
)

// Kubelet owns the lifecycle of the pods bound to its node.
type Kubelet struct {
	cfg          Config
	log          *slog.Logger
	recorder     EventRecorder
	stopRecorder func()

	volumes    *volume.Manager
	envSources envvars.Sources

	sources *podSources
	static  *staticPods
	probes  *probeManager

	crashBackoff *backoff
	pullBackoff  *backoff
	images       *imageGC

	memoryCapacity int64
	oomScoreFloor  int
	runtimeName    string

	mu      sync.Mutex
	pods    map[types.UID]*v1.Pod // desired pods: API pods bound here and static pods
	workers map[types.UID]*podWorker
	runCtx  context.Context
	wg      sync.WaitGroup
}

// New checks the configuration and builds a kubelet; Run starts it.
func New(cfg Config) (*Kubelet, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	memCap, err := readMemoryCapacity("/proc/meminfo")
	if err != nil {
		return nil, fmt.Errorf("kubelet: %w", err)
	}
	k := &Kubelet{
		cfg:            cfg,
		log:            cfg.Logger.With("component", "kubelet"),
		recorder:       cfg.Recorder,
		volumes:        volume.NewManager(cfg.podsDir(), volume.ClientSources(cfg.Client)),
		envSources:     envvars.ClientSources(cfg.Client),
		crashBackoff:   newBackoff(10*time.Second, 5*time.Minute, nil),
		pullBackoff:    newBackoff(10*time.Second, 5*time.Minute, nil),
		memoryCapacity: memCap,
		oomScoreFloor:  readOwnOOMScoreAdj(),
		pods:           map[types.UID]*v1.Pod{},
		workers:        map[types.UID]*podWorker{},
	}
	if k.recorder == nil {
		k.recorder, k.stopRecorder = newAPIEventRecorder(cfg.Client, cfg.NodeName)
	}
	k.sources = newPodSources(k)
	k.static = newStaticPods(k)
	k.probes = newProbeManager(k)
	k.images = newImageGC(k)
	return k, nil
}

// Run runs the kubelet until ctx ends. Containers keep running when it
// returns: a restarted kubelet adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	if k.stopRecorder != nil {
		defer k.stopRecorder()
	}
	version, err := k.cfg.Runtime.Version(ctx, "v1")
	if err != nil {
		return fmt.Errorf("kubelet: container runtime version: %w", err)
	}
	k.runtimeName = version.RuntimeName
	k.log.Info("starting", "node", k.cfg.NodeName, "runtime", version.RuntimeName+"://"+version.RuntimeVersion)

	if err := k.sources.start(ctx); err != nil {
		return err
	}
	if k.cfg.StaticPodsDir != "" {
		k.static.readManifests()
	}

	k.mu.Lock()
	k.runCtx = ctx
	for _, w := range k.workers {
		k.startWorkerLocked(w)
	}
	k.mu.Unlock()

	// Anything the runtime holds for pods that no longer exist goes first,
	// before the relist would count it as a change.
	k.collectOrphans(ctx)

	var loops sync.WaitGroup
	run := func(f func(context.Context)) {
		loops.Add(1)
		go func() { defer loops.Done(); f(ctx) }()
	}
	run(k.relistLoop)
	run(k.housekeepingLoop)
	run(k.images.loop)
	if k.cfg.StaticPodsDir != "" {
		run(k.static.loop)
	}
	<-ctx.Done()
	loops.Wait()
	k.probes.stopAll()
	k.wg.Wait()
	k.log.Info("stopped")
	return nil
}

// Pods lists the pods this kubelet runs (the kubelet API's /pods), with the
// status it last reported, sorted by namespace and name.
func (k *Kubelet) Pods() []*v1.Pod {
	k.mu.Lock()
	out := make([]*v1.Pod, 0, len(k.pods))
	for _, p := range k.pods {
		out = append(out, p)
	}
	k.mu.Unlock()
	for i, p := range out {
		cp := p.DeepCopy()
		if mirror := k.sources.mirrorOf(p); mirror != nil {
			cp.Status = *mirror.Status.DeepCopy()
		}
		out[i] = cp
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// housekeepingLoop drops stale back-off entries and removes what the
// runtime holds for unknown pods.
func (k *Kubelet) housekeepingLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.crashBackoff.gc()
			k.pullBackoff.gc()
			k.collectOrphans(ctx)
		}
	}
}
