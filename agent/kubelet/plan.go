package kubelet

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// probeVerdicts is what the probes say about running containers.
type probeVerdicts interface {
	// started: the startup probe passed (or there is none).
	started(containerID string) bool
	// ready: the readiness probe passes (or there is none).
	ready(containerID string) bool
	// unhealthy returns the Killing message and grace period when a
	// liveness or startup probe failed and the container must be
	// restarted; "" otherwise.
	unhealthy(containerID string) (string, *int64)
}

// killRequest is one running container the sync must stop.
type killRequest struct {
	Container *runtimeContainer
	Spec      *v1.Container // nil when the pod no longer has the container
	Message   string        // note of the Killing event
	Grace     *int64        // nil: the pod's termination grace period
}

// startRequest is one container the sync must create and start.
type startRequest struct {
	Spec *v1.Container
	// Previous is the latest instance when this is a restart; restarts go
	// through the crash back-off.
	Previous *runtimeContainer
}

// podPlan is the next step of a running pod, computed from its spec and
// runtime state alone.
type podPlan struct {
	Kill   []killRequest
	Remove []*runtimeContainer // created but never started; replaced
	Start  []startRequest
	// InitDone: every init container completed (sidecars started).
	InitDone bool
	// InitFailed: an init container failed and the restart policy Never
	// forbids another attempt; the pod fails.
	InitFailed bool
}

// shouldRestart applies the pod's restart policy to an exited container.
func shouldRestart(policy v1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

// planPod decides the next step for a pod whose sandbox sandboxID is
// ready. Kills come alone: the caller runs them, reads the runtime again
// and plans anew, so starts always see the containers' final state.
func planPod(pod *v1.Pod, rp *runtimePod, sandboxID string, probes probeVerdicts) podPlan {
	var plan podPlan
	plan.Kill = unwantedContainers(pod, rp, sandboxID, probes)
	if len(plan.Kill) > 0 {
		return plan
	}
	view := &runtimePod{Sandboxes: rp.Sandboxes}
	for _, c := range rp.Containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_CREATED {
			plan.Remove = append(plan.Remove, c)
			continue
		}
		view.Containers = append(view.Containers, c)
	}
	if !planInitContainers(pod, view, sandboxID, probes, &plan) {
		return plan
	}
	plan.InitDone = true
	active := false
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := view.latest(c.Name)
		switch {
		case latest == nil:
			plan.Start = append(plan.Start, startRequest{Spec: c})
			active = true
		case !latest.exited():
			active = true
		case shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode):
			plan.Start = append(plan.Start, startRequest{Spec: c, Previous: latest})
			active = true
		}
	}
	// Sidecars outlive nothing: once every app container is done for good,
	// they are stopped, last started first.
	if !active && len(pod.Spec.Containers) > 0 {
		for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
			ic := &pod.Spec.InitContainers[i]
			if latest := view.latestIn(ic.Name, sandboxID); isSidecar(ic) && latest != nil && latest.running() {
				plan.Kill = append(plan.Kill, killRequest{Container: latest, Spec: ic})
			}
		}
	}
	return plan
}

// unwantedContainers lists running containers that must stop: outside the
// current sandbox, no longer in the spec, duplicates, changed specs, and
// those a liveness or startup probe condemned.
func unwantedContainers(pod *v1.Pod, rp *runtimePod, sandboxID string, probes probeVerdicts) []killRequest {
	var kills []killRequest
	for _, rc := range rp.Containers {
		if !rc.running() {
			continue
		}
		spec, _ := containerSpec(pod, rc.Name)
		switch {
		case spec == nil || rc.SandboxID != sandboxID || rp.latestIn(rc.Name, sandboxID) != rc:
			kills = append(kills, killRequest{Container: rc, Spec: spec})
		case rc.Hash != "" && rc.Hash != containerHash(spec):
			kills = append(kills, killRequest{Container: rc, Spec: spec,
				Message: fmt.Sprintf("Container %s definition changed, will be restarted", rc.Name)})
		default:
			if msg, grace := probes.unhealthy(rc.ID); msg != "" {
				kills = append(kills, killRequest{Container: rc, Spec: spec, Message: msg, Grace: grace})
			}
		}
	}
	return kills
}

// planInitContainers walks the init containers in order and reports
// whether all of them are done; otherwise it records the one to start (or
// nothing while one runs).
func planInitContainers(pod *v1.Pod, view *runtimePod, sandboxID string, probes probeVerdicts, plan *podPlan) bool {
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		latest := view.latestIn(ic.Name, sandboxID)
		if isSidecar(ic) {
			switch {
			case latest != nil && !latest.exited():
				if latest.running() && !probes.started(latest.ID) {
					return false
				}
				continue
			default:
				plan.Start = append(plan.Start, startRequest{Spec: ic, Previous: latest})
				return false
			}
		}
		switch {
		case latest == nil:
			plan.Start = append(plan.Start, startRequest{Spec: ic})
			return false
		case !latest.exited():
			return false
		case latest.ExitCode == 0:
			continue
		case pod.Spec.RestartPolicy == v1.RestartPolicyNever:
			plan.InitFailed = true
			return false
		default:
			plan.Start = append(plan.Start, startRequest{Spec: ic, Previous: latest})
			return false
		}
	}
	return true
}
