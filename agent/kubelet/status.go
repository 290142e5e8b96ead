package kubelet

import (
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Waiting reasons for containers without an instance.
const (
	waitingContainerCreating = "ContainerCreating"
	waitingPodInitializing   = "PodInitializing"
	waitingCrashLoopBackOff  = "CrashLoopBackOff"
)

// statusInputs is everything a pod status is computed from.
type statusInputs struct {
	Pod          *v1.Pod
	Old          v1.PodStatus
	Runtime      *runtimePod
	SandboxID    string // current sandbox, "" when there is none
	SandboxReady bool
	PodIPs       []string
	HostIPs      []string
	Waiting      map[string]waitingState
	Probes       probeVerdicts
	RuntimeName  string
	// Terminal: the pod is being torn down; no container will restart.
	Terminal bool
	// Failure, when set, fails the pod with its reason and message.
	Failure *podFailure
	// TerminationMessage reads what an exited instance left behind.
	TerminationMessage func(spec *v1.Container, rc *runtimeContainer) string
	Now                time.Time
}

// apiTime is a timestamp at the API's resolution (seconds), so a status
// computed again compares equal to the one stored.
func apiTime(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// computeStatus builds the pod status the kubelet reports.
func computeStatus(in statusInputs) v1.PodStatus {
	st := *in.Old.DeepCopy()
	initDone := true
	st.InitContainerStatuses = nil
	for i := range in.Pod.Spec.InitContainers {
		cs := containerStatus(in, &in.Pod.Spec.InitContainers[i], true, true)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	for i := range in.Pod.Spec.InitContainers {
		ic := &in.Pod.Spec.InitContainers[i]
		cs := findStatus(st.InitContainerStatuses, ic.Name)
		if isSidecar(ic) {
			initDone = initDone && cs.Started != nil && *cs.Started
		} else {
			initDone = initDone && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		}
	}
	st.ContainerStatuses = nil
	for i := range in.Pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(in, &in.Pod.Spec.Containers[i], false, initDone))
	}
	st.Phase = podPhase(in.Pod, st.InitContainerStatuses, st.ContainerStatuses, in.Terminal)
	if in.Failure != nil {
		st.Phase = v1.PodFailed
		st.Reason, st.Message = in.Failure.Reason, in.Failure.Message
	}
	if isTerminalPhase(in.Old.Phase) {
		st.Phase = in.Old.Phase // a finished pod never runs again
	}
	st.Conditions = podConditions(conditionInputs{
		pod:          in.Pod,
		phase:        st.Phase,
		sandboxReady: in.SandboxReady && !in.Terminal,
		initStatuses: st.InitContainerStatuses,
		statuses:     st.ContainerStatuses,
		old:          in.Old.Conditions,
		now:          apiTime(in.Now),
	})
	if len(in.HostIPs) > 0 {
		st.HostIP = in.HostIPs[0]
		st.HostIPs = nil
		for _, ip := range in.HostIPs {
			st.HostIPs = append(st.HostIPs, v1.HostIP{IP: ip})
		}
	}
	// A pod keeps its IPs once its sandbox is gone, as upstream reports.
	if len(in.PodIPs) > 0 {
		st.PodIP = in.PodIPs[0]
		st.PodIPs = nil
		for _, ip := range in.PodIPs {
			st.PodIPs = append(st.PodIPs, v1.PodIP{IP: ip})
		}
	}
	if st.StartTime == nil {
		t := apiTime(in.Now)
		st.StartTime = &t
	}
	if st.QOSClass == "" {
		st.QOSClass = podQOS(in.Pod)
	}
	return st
}

// containerStatus reports one container of the spec from its newest
// instances.
func containerStatus(in statusInputs, spec *v1.Container, isInit, initDone bool) v1.ContainerStatus {
	cs := v1.ContainerStatus{Name: spec.Name, Image: spec.Image}
	var instances []*runtimeContainer
	for _, rc := range in.Runtime.instances(spec.Name) {
		if rc.State != runtimeapi.ContainerState_CONTAINER_CREATED {
			instances = append(instances, rc)
		}
	}
	notStarted := false
	cs.Started = &notStarted
	if len(instances) == 0 {
		w := waitingState{Reason: waitingContainerCreating}
		if !isInit && !initDone {
			w.Reason = waitingPodInitializing
		}
		if ws, ok := in.Waiting[spec.Name]; ok {
			w = ws
		}
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		return cs
	}
	latest := instances[0]
	cs.ContainerID = in.RuntimeName + "://" + latest.ID
	cs.ImageID = latest.ImageRef
	if latest.Image != "" && !strings.HasPrefix(latest.Image, "sha256:") {
		cs.Image = latest.Image
	}
	cs.RestartCount = int32(latest.RestartCount)
	var previous *v1.ContainerStateTerminated
	if len(instances) > 1 && instances[1].exited() {
		previous = terminatedState(in, spec, instances[1])
	}
	switch {
	case latest.running():
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: apiTime(latest.StartedAt)}
		started := in.Probes.started(latest.ID)
		cs.Started = &started
		cs.Ready = started && in.Probes.ready(latest.ID)
		cs.LastTerminationState.Terminated = previous
	case latest.exited():
		term := terminatedState(in, spec, latest)
		if ws, ok := in.Waiting[spec.Name]; ok && !in.Terminal {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: ws.Reason, Message: ws.Message}
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
			cs.LastTerminationState.Terminated = previous
		}
	default:
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: waitingContainerCreating}
		cs.LastTerminationState.Terminated = previous
	}
	return cs
}

func terminatedState(in statusInputs, spec *v1.Container, rc *runtimeContainer) *v1.ContainerStateTerminated {
	t := &v1.ContainerStateTerminated{
		ExitCode:    rc.ExitCode,
		Reason:      rc.Reason,
		StartedAt:   apiTime(rc.StartedAt),
		FinishedAt:  apiTime(rc.FinishedAt),
		ContainerID: in.RuntimeName + "://" + rc.ID,
	}
	if t.Reason == "" {
		t.Reason = "Error"
		if rc.ExitCode == 0 {
			t.Reason = "Completed"
		}
	}
	if in.TerminationMessage != nil {
		t.Message = in.TerminationMessage(spec, rc)
	}
	if t.Message == "" {
		t.Message = rc.Message
	}
	return t
}
