package kubelet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"kite/agent/kubelet/probe"
)

type probeKind string

const (
	livenessProbe  probeKind = "Liveness"
	readinessProbe probeKind = "Readiness"
	startupProbe   probeKind = "Startup"
)

// probeManager runs a worker per probe of every running container and
// keeps their verdicts, keyed by container ID.
type probeManager struct {
	k *Kubelet

	mu      sync.Mutex
	results map[string]*probeState // by container ID
	byPod   map[types.UID]map[string]bool
}

// probeState is one container's probe verdicts and the workers that
// produce them.
type probeState struct {
	hasReadiness, hasStartup bool
	isReady, isStarted       bool
	unhealthyMsg             string
	unhealthyGrace           *int64
	cancel                   context.CancelFunc
}

func newProbeManager(k *Kubelet) *probeManager {
	return &probeManager{k: k, results: map[string]*probeState{}, byPod: map[types.UID]map[string]bool{}}
}

func (m *probeManager) started(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.results[id]
	return s == nil || !s.hasStartup || s.isStarted
}

func (m *probeManager) ready(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.results[id]
	return s == nil || !s.hasReadiness || s.isReady
}

func (m *probeManager) unhealthy(id string) (string, *int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.results[id]; s != nil {
		return s.unhealthyMsg, s.unhealthyGrace
	}
	return "", nil
}

// sync starts workers for the running containers of the pod's current
// sandbox and stops those of containers that are gone.
func (m *probeManager) sync(pod *v1.Pod, rp *runtimePod, sb *sandboxState) {
	running := map[string]*runtimeContainer{}
	for _, rc := range rp.Containers {
		if rc.running() && rc.SandboxID == sb.ID {
			running[rc.ID] = rc
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	known := m.byPod[pod.UID]
	if known == nil {
		known = map[string]bool{}
		m.byPod[pod.UID] = known
	}
	for id := range known {
		if running[id] == nil {
			m.stopLocked(id)
			delete(known, id)
		}
	}
	podIP := ""
	if len(sb.IPs) > 0 {
		podIP = sb.IPs[0]
	}
	for id, rc := range running {
		if known[id] {
			continue
		}
		spec, _ := containerSpec(pod, rc.Name)
		if spec == nil {
			continue
		}
		known[id] = true
		if spec.LivenessProbe == nil && spec.ReadinessProbe == nil && spec.StartupProbe == nil {
			continue
		}
		ctx, cancel := context.WithCancel(m.k.runCtx)
		st := &probeState{hasReadiness: spec.ReadinessProbe != nil, hasStartup: spec.StartupProbe != nil, cancel: cancel}
		m.results[id] = st
		for kind, p := range map[probeKind]*v1.Probe{livenessProbe: spec.LivenessProbe, readinessProbe: spec.ReadinessProbe, startupProbe: spec.StartupProbe} {
			if p == nil {
				continue
			}
			pw := &probeWorker{m: m, pod: pod, spec: spec, containerID: id, kind: kind, probe: p,
				startedAt: rc.StartedAt, target: probe.Target{PodIP: podIP, Container: spec, Exec: m.k.execForProbe(id)}}
			go pw.run(ctx)
		}
	}
}

// stopContainer ends the probes of a container being stopped.
func (m *probeManager) stopContainer(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopLocked(id)
}

func (m *probeManager) stopLocked(id string) {
	if s := m.results[id]; s != nil {
		s.cancel()
		delete(m.results, id)
	}
}

// forgetPod ends every probe of a pod.
func (m *probeManager) forgetPod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.byPod[uid] {
		m.stopLocked(id)
	}
	delete(m.byPod, uid)
}

func (m *probeManager) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.results {
		m.stopLocked(id)
	}
}

// probeWorker runs one probe of one container on its period and applies
// the success and failure thresholds.
type probeWorker struct {
	m           *probeManager
	pod         *v1.Pod
	spec        *v1.Container
	containerID string
	kind        probeKind
	probe       *v1.Probe
	startedAt   time.Time
	target      probe.Target
}

func (w *probeWorker) run(ctx context.Context) {
	period := time.Duration(max(w.probe.PeriodSeconds, 1)) * time.Second
	if w.probe.PeriodSeconds == 0 {
		period = 10 * time.Second
	}
	successThreshold := max(w.probe.SuccessThreshold, 1)
	failureThreshold := w.probe.FailureThreshold
	if failureThreshold <= 0 {
		failureThreshold = 3
	}
	// The first probe waits for the initial delay from the container's
	// start; a little jitter spreads probes of many containers.
	first := time.Until(w.startedAt.Add(time.Duration(w.probe.InitialDelaySeconds) * time.Second))
	if w.probe.InitialDelaySeconds == 0 {
		first = time.Duration(rand.Int64N(int64(min(period, time.Second))))
	}
	timer := time.NewTimer(max(first, 0))
	defer timer.Stop()
	var successes, failures int32
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(period)
		if w.kind == startupProbe && w.m.started(w.containerID) {
			return
		}
		if w.kind != startupProbe && !w.m.started(w.containerID) {
			continue
		}
		result, output := probe.Run(ctx, w.probe, w.target)
		if ctx.Err() != nil {
			return
		}
		if result == probe.Success {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			w.m.k.recorder.Eventf(w.pod, v1.EventTypeWarning, reasonUnhealthy, "%s probe failed: %s", w.kind, output)
		}
		switch {
		case successes >= successThreshold:
			w.record(true)
		case failures >= failureThreshold:
			if w.record(false) {
				return // condemned: the kubelet restarts the container
			}
		}
	}
}

// record stores a verdict and wakes the pod's worker when it changed. It
// reports whether the container was condemned.
func (w *probeWorker) record(ok bool) bool {
	m := w.m
	m.mu.Lock()
	s := m.results[w.containerID]
	if s == nil {
		m.mu.Unlock()
		return true
	}
	changed, condemned := false, false
	switch w.kind {
	case readinessProbe:
		changed = s.isReady != ok
		s.isReady = ok
	case startupProbe:
		if ok {
			changed = !s.isStarted
			s.isStarted = true
		} else {
			condemned = true
		}
	case livenessProbe:
		condemned = !ok
	}
	if condemned && s.unhealthyMsg == "" {
		s.unhealthyMsg = fmt.Sprintf("Container %s failed %s probe, will be restarted", w.spec.Name, lower(w.kind))
		s.unhealthyGrace = w.probe.TerminationGracePeriodSeconds
		changed = true
	}
	m.mu.Unlock()
	if changed {
		m.k.wakePod(w.pod.UID)
	}
	return condemned
}

func lower(k probeKind) string {
	switch k {
	case livenessProbe:
		return "liveness"
	case readinessProbe:
		return "readiness"
	default:
		return "startup"
	}
}
