package node

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pressure is what the node's resource checks found.
type pressure struct {
	memory, disk, pid bool
}

// conditionText holds the reason and message the kubelet uses for one
// condition type, when false (healthy) and when true.
type conditionText struct {
	falseReason, falseMessage string
	trueReason, trueMessage   string
}

var pressureTexts = map[corev1.NodeConditionType]conditionText{
	corev1.NodeMemoryPressure: {"KubeletHasSufficientMemory", "kubelet has sufficient memory available", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"},
	corev1.NodeDiskPressure:   {"KubeletHasNoDiskPressure", "kubelet has no disk pressure", "KubeletHasDiskPressure", "kubelet has disk pressure"},
	corev1.NodePIDPressure:    {"KubeletHasSufficientPID", "kubelet has sufficient PID available", "KubeletHasInsufficientPID", "kubelet has insufficient PID available"},
}

// conditions returns the node's conditions in the kubelet's order. A
// condition whose status is unchanged keeps its lastTransitionTime.
// notReady is empty when the runtime and its network are ready, else why not.
func conditions(previous []corev1.NodeCondition, p pressure, notReady string, now metav1.Time) []corev1.NodeCondition {
	prev := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range previous {
		prev[c.Type] = c
	}
	build := func(t corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: status, Reason: reason, Message: message, LastHeartbeatTime: now, LastTransitionTime: now}
		if old, ok := prev[t]; ok && old.Status == status && !old.LastTransitionTime.IsZero() {
			c.LastTransitionTime = old.LastTransitionTime
		}
		return c
	}
	pressureCondition := func(t corev1.NodeConditionType, on bool) corev1.NodeCondition {
		text := pressureTexts[t]
		if on {
			return build(t, corev1.ConditionTrue, text.trueReason, text.trueMessage)
		}
		return build(t, corev1.ConditionFalse, text.falseReason, text.falseMessage)
	}
	ready := build(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
	if notReady != "" {
		ready = build(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", notReady)
	}
	return []corev1.NodeCondition{
		pressureCondition(corev1.NodeMemoryPressure, p.memory),
		pressureCondition(corev1.NodeDiskPressure, p.disk),
		pressureCondition(corev1.NodePIDPressure, p.pid),
		ready,
	}
}

// sameConditions compares conditions ignoring heartbeat times: a change in
// anything else is worth a status update at once.
func sameConditions(a, b []corev1.NodeCondition) bool {
	if len(a) != len(b) {
		return false
	}
	byType := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range a {
		byType[c.Type] = c
	}
	for _, c := range b {
		o, ok := byType[c.Type]
		if !ok || o.Status != c.Status || o.Reason != c.Reason || o.Message != c.Message || !o.LastTransitionTime.Equal(&c.LastTransitionTime) {
			return false
		}
	}
	return true
}
