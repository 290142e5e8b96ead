package kubelet

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeletConditions are the pod conditions the kubelet owns, in the order
// upstream reports them; everything else (PodScheduled, DisruptionTarget,
// readiness gates) belongs to others and is kept as found.
var kubeletConditions = []v1.PodConditionType{
	v1.PodReadyToStartContainers,
	v1.PodInitialized,
	v1.PodReady,
	v1.ContainersReady,
}

func isKubeletCondition(t v1.PodConditionType) bool {
	for _, c := range kubeletConditions {
		if c == t {
			return true
		}
	}
	return false
}

// conditionInputs is what the kubelet's conditions are computed from.
type conditionInputs struct {
	pod          *v1.Pod
	phase        v1.PodPhase
	sandboxReady bool
	initStatuses []v1.ContainerStatus
	statuses     []v1.ContainerStatus
	old          []v1.PodCondition
	now          metav1.Time
}

// podConditions computes the kubelet's conditions and keeps the others.
func podConditions(in conditionInputs) []v1.PodCondition {
	initialized := initializedCondition(in)
	containersReady := containersReadyCondition(in)
	computed := []v1.PodCondition{
		boolCondition(v1.PodReadyToStartContainers, in.sandboxReady, "", ""),
		initialized,
		readyCondition(in, containersReady),
		containersReady,
	}
	out := make([]v1.PodCondition, 0, len(computed)+len(in.old))
	for _, c := range computed {
		if prev := findCondition(in.old, c.Type); prev != nil && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		} else {
			c.LastTransitionTime = in.now
		}
		out = append(out, c)
	}
	for _, c := range in.old {
		if !isKubeletCondition(c.Type) {
			out = append(out, c)
		}
	}
	return out
}

func boolCondition(t v1.PodConditionType, ok bool, reason, message string) v1.PodCondition {
	c := v1.PodCondition{Type: t, Status: v1.ConditionTrue}
	if !ok {
		c.Status = v1.ConditionFalse
		c.Reason = reason
		c.Message = message
	}
	return c
}

// initializedCondition: every init container completed, every sidecar
// started.
func initializedCondition(in conditionInputs) v1.PodCondition {
	if in.phase == v1.PodSucceeded && len(in.pod.Spec.InitContainers) > 0 {
		return boolCondition(v1.PodInitialized, true, "", "")
	}
	var incomplete []string
	for i := range in.pod.Spec.InitContainers {
		ic := &in.pod.Spec.InitContainers[i]
		st := findStatus(in.initStatuses, ic.Name)
		var done bool
		switch {
		case st == nil:
		case isSidecar(ic):
			done = st.Started != nil && *st.Started
		default:
			done = st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
		}
		if !done {
			incomplete = append(incomplete, ic.Name)
		}
	}
	if len(incomplete) > 0 && anyAppContainerStarted(in.statuses) && in.phase != v1.PodFailed {
		// Init ran in full before the app containers started; a restarting
		// sidecar does not undo that.
		incomplete = nil
	}
	return boolCondition(v1.PodInitialized, len(incomplete) == 0, "ContainersNotInitialized",
		fmt.Sprintf("containers with incomplete status: %s", nameList(incomplete)))
}

// containersReadyCondition: every app container and sidecar is ready.
func containersReadyCondition(in conditionInputs) v1.PodCondition {
	if in.phase == v1.PodSucceeded {
		return boolCondition(v1.ContainersReady, false, "PodCompleted", "")
	}
	var unknown, unready []string
	check := func(name string, statuses []v1.ContainerStatus) {
		st := findStatus(statuses, name)
		switch {
		case st == nil:
			unknown = append(unknown, name)
		case !st.Ready:
			unready = append(unready, name)
		}
	}
	for i := range in.pod.Spec.InitContainers {
		if ic := &in.pod.Spec.InitContainers[i]; isSidecar(ic) {
			check(ic.Name, in.initStatuses)
		}
	}
	for i := range in.pod.Spec.Containers {
		check(in.pod.Spec.Containers[i].Name, in.statuses)
	}
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", nameList(unknown)))
	}
	if len(unready) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unready status: %s", nameList(unready)))
	}
	return boolCondition(v1.ContainersReady, len(msgs) == 0, "ContainersNotReady", strings.Join(msgs, ", "))
}

// readyCondition: containers ready and every readiness gate True.
func readyCondition(in conditionInputs, containersReady v1.PodCondition) v1.PodCondition {
	if containersReady.Status != v1.ConditionTrue {
		c := containersReady
		c.Type = v1.PodReady
		return c
	}
	var msgs []string
	for _, gate := range in.pod.Spec.ReadinessGates {
		c := findCondition(in.old, gate.ConditionType)
		switch {
		case c == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gate.ConditionType))
		case c.Status != v1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", gate.ConditionType, c.Status))
		}
	}
	return boolCondition(v1.PodReady, len(msgs) == 0, "ReadinessGatesNotReady", strings.Join(msgs, ", "))
}

func findCondition(conds []v1.PodCondition, t v1.PodConditionType) *v1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// nameList formats names as upstream prints a Go slice: [a b].
func nameList(names []string) string {
	return "[" + strings.Join(names, " ") + "]"
}
