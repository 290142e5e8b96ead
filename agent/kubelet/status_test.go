package kubelet

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func statusFor(pod *v1.Pod, rp *runtimePod, mod func(*statusInputs)) v1.PodStatus {
	in := statusInputs{
		Pod: pod, Runtime: rp, SandboxID: "sb1", SandboxReady: true,
		PodIPs: []string{"10.42.0.7"}, HostIPs: []string{"192.168.1.5"},
		Waiting: map[string]waitingState{}, Probes: staticVerdicts{}, RuntimeName: "containerd",
		Now: testEpoch.Add(time.Hour),
	}
	if mod != nil {
		mod(&in)
	}
	return computeStatus(in)
}

func condition(st v1.PodStatus, t v1.PodConditionType) v1.PodCondition {
	if c := findCondition(st.Conditions, t); c != nil {
		return *c
	}
	return v1.PodCondition{}
}

func TestComputeStatusPhases(t *testing.T) {
	always := testPod(v1.RestartPolicyAlways, nil, "app")
	never := testPod(v1.RestartPolicyNever, nil, "app", "b")
	onFailure := testPod(v1.RestartPolicyOnFailure, nil, "app")
	withInit := testPod(v1.RestartPolicyAlways, []string{"init"}, "app")
	initNever := testPod(v1.RestartPolicyNever, []string{"init"}, "app")

	tests := []struct {
		name        string
		pod         *v1.Pod
		rp          *runtimePod
		waiting     map[string]waitingState
		terminal    bool
		wantPhase   v1.PodPhase
		wantReady   v1.ConditionStatus
		wantInit    v1.ConditionStatus
		wantWaiting string // reason of the first app container, if waiting
	}{
		{
			name: "nothing started yet", pod: always, rp: withSandbox(),
			wantPhase: v1.PodPending, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
			wantWaiting: waitingContainerCreating,
		},
		{
			name: "image pull failing", pod: always, rp: withSandbox(),
			waiting:   map[string]waitingState{"app": {Reason: waitingImagePullBackOff, Message: "Back-off pulling image"}},
			wantPhase: v1.PodPending, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
			wantWaiting: waitingImagePullBackOff,
		},
		{
			name: "running", pod: always, rp: withSandbox(running("a1", "app", "sb1", 0, nil)),
			wantPhase: v1.PodRunning, wantReady: v1.ConditionTrue, wantInit: v1.ConditionTrue,
		},
		{
			name: "crash looping stays Running", pod: always, rp: withSandbox(exited("a1", "app", "sb1", 3, 1)),
			waiting:   map[string]waitingState{"app": {Reason: waitingCrashLoopBackOff, Message: "back-off 40s"}},
			wantPhase: v1.PodRunning, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
			wantWaiting: waitingCrashLoopBackOff,
		},
		{
			name: "Never: all succeeded", pod: never,
			rp:        withSandbox(exited("a1", "app", "sb1", 0, 0), exited("b1", "b", "sb1", 0, 0)),
			wantPhase: v1.PodSucceeded, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
		},
		{
			name: "Never: one failed", pod: never,
			rp:        withSandbox(exited("a1", "app", "sb1", 0, 0), exited("b1", "b", "sb1", 0, 2)),
			wantPhase: v1.PodFailed, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
		},
		{
			name: "Never: one still running", pod: never,
			rp:        withSandbox(exited("a1", "app", "sb1", 0, 2), running("b1", "b", "sb1", 0, nil)),
			wantPhase: v1.PodRunning, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
		},
		{
			name: "OnFailure: failure restarts", pod: onFailure, rp: withSandbox(exited("a1", "app", "sb1", 0, 1)),
			wantPhase: v1.PodRunning, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
		},
		{
			name: "OnFailure: success ends", pod: onFailure, rp: withSandbox(exited("a1", "app", "sb1", 0, 0)),
			wantPhase: v1.PodSucceeded, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
		},
		{
			name: "init running", pod: withInit, rp: withSandbox(running("i1", "init", "sb1", 0, nil)),
			wantPhase: v1.PodPending, wantReady: v1.ConditionFalse, wantInit: v1.ConditionFalse,
			wantWaiting: waitingPodInitializing,
		},
		{
			name: "init failed with Never", pod: initNever, rp: withSandbox(exited("i1", "init", "sb1", 0, 1)),
			wantPhase: v1.PodFailed, wantReady: v1.ConditionFalse, wantInit: v1.ConditionFalse,
			wantWaiting: waitingPodInitializing,
		},
		{
			name: "init done, app running", pod: withInit,
			rp:        withSandbox(exited("i1", "init", "sb1", 0, 0), running("a1", "app", "sb1", 0, nil)),
			wantPhase: v1.PodRunning, wantReady: v1.ConditionTrue, wantInit: v1.ConditionTrue,
		},
		{
			name: "deleted pod with Always ends Failed", pod: always, rp: withSandbox(exited("a1", "app", "sb1", 0, 137)),
			terminal: true, wantPhase: v1.PodFailed, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
		},
		{
			name: "deleted pod whose containers succeeded ends Succeeded", pod: always,
			rp: withSandbox(exited("a1", "app", "sb1", 0, 0)), terminal: true,
			wantPhase: v1.PodSucceeded, wantReady: v1.ConditionFalse, wantInit: v1.ConditionTrue,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := statusFor(tt.pod, tt.rp, func(in *statusInputs) {
				if tt.waiting != nil {
					in.Waiting = tt.waiting
				}
				in.Terminal = tt.terminal
			})
			if st.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", st.Phase, tt.wantPhase)
			}
			if c := condition(st, v1.PodReady); c.Status != tt.wantReady {
				t.Errorf("Ready = %s (%s: %s), want %s", c.Status, c.Reason, c.Message, tt.wantReady)
			}
			if c := condition(st, v1.PodInitialized); c.Status != tt.wantInit {
				t.Errorf("Initialized = %s (%s), want %s", c.Status, c.Message, tt.wantInit)
			}
			w := st.ContainerStatuses[0].State.Waiting
			switch {
			case tt.wantWaiting == "" && w != nil:
				t.Errorf("container waiting %q, want none", w.Reason)
			case tt.wantWaiting != "" && (w == nil || w.Reason != tt.wantWaiting):
				t.Errorf("container waiting = %+v, want reason %q", w, tt.wantWaiting)
			}
		})
	}
}

func TestComputeStatusContainerDetails(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	pod.Spec.Containers[0].Image = "busybox:1.36"
	rp := withSandbox(exited("a1", "app", "sb1", 0, 1), running("a2", "app", "sb1", 1, nil))
	st := statusFor(pod, rp, func(in *statusInputs) {
		in.TerminationMessage = func(_ *v1.Container, rc *runtimeContainer) string { return "bye from " + rc.ID }
	})
	cs := st.ContainerStatuses[0]
	if cs.ContainerID != "containerd://a2" || cs.RestartCount != 1 || cs.ImageID != "sha256:img" {
		t.Errorf("container status identity = %q restart %d image %q", cs.ContainerID, cs.RestartCount, cs.ImageID)
	}
	if cs.Image != "docker.io/library/busybox:1.36" {
		t.Errorf("image = %q, want the runtime's normalised name", cs.Image)
	}
	if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started {
		t.Errorf("want running, ready and started: %+v", cs)
	}
	last := cs.LastTerminationState.Terminated
	if last == nil || last.ExitCode != 1 || last.Reason != "Error" || last.Message != "bye from a1" || last.ContainerID != "containerd://a1" {
		t.Errorf("last state = %+v", last)
	}
	if last.FinishedAt.Time.Nanosecond() != 0 {
		t.Errorf("times must be cut to seconds, got %v", last.FinishedAt)
	}
	if st.PodIP != "10.42.0.7" || len(st.PodIPs) != 1 || st.HostIP != "192.168.1.5" || st.QOSClass != v1.PodQOSBestEffort {
		t.Errorf("pod addresses/QoS = %q %v %q %q", st.PodIP, st.PodIPs, st.HostIP, st.QOSClass)
	}
	if st.StartTime == nil {
		t.Error("startTime not set")
	}
}

func TestComputeStatusReadinessAndConditions(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, nil, "app", "b")
	pod.Spec.ReadinessGates = []v1.PodReadinessGate{{ConditionType: "example.com/lb"}}
	scheduled := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(testEpoch)}
	oldReady := v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, LastTransitionTime: metav1.NewTime(testEpoch)}
	rp := withSandbox(running("a1", "app", "sb1", 0, nil), running("b1", "b", "sb1", 0, nil))

	st := statusFor(pod, rp, func(in *statusInputs) {
		in.Old.Conditions = []v1.PodCondition{scheduled, oldReady}
		in.Probes = staticVerdicts{notReady: map[string]bool{"b1": true}}
	})
	ready := condition(st, v1.PodReady)
	if ready.Status != v1.ConditionFalse || ready.Reason != "ContainersNotReady" || ready.Message != "containers with unready status: [b]" {
		t.Errorf("Ready = %+v", ready)
	}
	if !ready.LastTransitionTime.Equal(&oldReady.LastTransitionTime) {
		t.Error("an unchanged condition must keep its transition time")
	}
	if c := condition(st, v1.PodScheduled); c.Status != v1.ConditionTrue {
		t.Error("conditions of others must be kept")
	}
	if c := condition(st, v1.ContainersReady); c.Status != v1.ConditionFalse {
		t.Errorf("ContainersReady = %+v", c)
	}

	st = statusFor(pod, rp, func(in *statusInputs) { in.Old.Conditions = []v1.PodCondition{scheduled, oldReady} })
	ready = condition(st, v1.PodReady)
	if ready.Status != v1.ConditionFalse || ready.Reason != "ReadinessGatesNotReady" ||
		ready.Message != `corresponding condition of pod readiness gate "example.com/lb" does not exist.` {
		t.Errorf("Ready with a missing gate = %+v", ready)
	}
	if c := condition(st, v1.ContainersReady); c.Status != v1.ConditionTrue {
		t.Errorf("ContainersReady = %+v", c)
	}

	gate := v1.PodCondition{Type: "example.com/lb", Status: v1.ConditionTrue}
	st = statusFor(pod, rp, func(in *statusInputs) { in.Old.Conditions = []v1.PodCondition{scheduled, gate} })
	if c := condition(st, v1.PodReady); c.Status != v1.ConditionTrue || !c.LastTransitionTime.Equal(&metav1.Time{Time: testEpoch.Add(time.Hour)}) {
		t.Errorf("Ready with the gate True = %+v", c)
	}
	if c := condition(st, v1.PodReadyToStartContainers); c.Status != v1.ConditionTrue {
		t.Errorf("PodReadyToStartContainers = %+v", c)
	}
}

func TestComputeStatusKeepsTerminalPhase(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	st := statusFor(pod, withSandbox(running("a1", "app", "sb1", 0, nil)), func(in *statusInputs) {
		in.Old.Phase = v1.PodFailed
	})
	if st.Phase != v1.PodFailed {
		t.Errorf("phase = %s; a finished pod must stay finished", st.Phase)
	}
}
