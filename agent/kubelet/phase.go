package kubelet

import (
	v1 "k8s.io/api/core/v1"
)

func isTerminalPhase(p v1.PodPhase) bool {
	return p == v1.PodSucceeded || p == v1.PodFailed
}

// containerCounts tallies container statuses the way the phase rules
// read them.
type containerCounts struct {
	pendingInit, failedInit                   int
	running, waiting, stopped, succeeded, unk int
}

// podPhase applies upstream's phase rules to the container statuses.
// podIsTerminal is set when the pod is being torn down for good: its
// containers will not restart whatever the policy says.
func podPhase(pod *v1.Pod, initStatuses, statuses []v1.ContainerStatus, podIsTerminal bool) v1.PodPhase {
	var n containerCounts
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		st := findStatus(initStatuses, ic.Name)
		if isSidecar(ic) {
			countSidecar(&n, st)
			continue
		}
		switch {
		case st == nil || st.State.Running != nil:
			n.pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				n.failedInit++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			if st.LastTerminationState.Terminated.ExitCode != 0 {
				n.failedInit++
			}
		default:
			n.pendingInit++
		}
	}
	for i := range pod.Spec.Containers {
		st := findStatus(statuses, pod.Spec.Containers[i].Name)
		switch {
		case st == nil:
			n.unk++
		case st.State.Running != nil:
			n.running++
		case st.State.Terminated != nil:
			n.stopped++
			if st.State.Terminated.ExitCode == 0 {
				n.succeeded++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			n.stopped++
		case st.State.Waiting != nil:
			n.waiting++
		default:
			n.unk++
		}
	}

	if n.failedInit > 0 && pod.Spec.RestartPolicy == v1.RestartPolicyNever {
		return v1.PodFailed
	}
	switch {
	case n.pendingInit > 0 && !anyAppContainerStarted(statuses):
		return v1.PodPending
	case n.waiting > 0:
		return v1.PodPending
	case n.running > 0 && n.unk == 0:
		return v1.PodRunning
	case n.running == 0 && n.stopped > 0 && n.unk == 0:
		return stoppedPhase(pod, n, podIsTerminal)
	default:
		return v1.PodPending
	}
}

// stoppedPhase: every app container has stopped.
func stoppedPhase(pod *v1.Pod, n containerCounts, podIsTerminal bool) v1.PodPhase {
	allSucceeded := n.stopped == n.succeeded
	switch {
	case podIsTerminal && !isStaticPod(pod):
		if allSucceeded {
			return v1.PodSucceeded
		}
		return v1.PodFailed
	case pod.Spec.RestartPolicy == v1.RestartPolicyAlways:
		return v1.PodRunning // restarting
	case allSucceeded:
		return v1.PodSucceeded
	case pod.Spec.RestartPolicy == v1.RestartPolicyNever:
		return v1.PodFailed
	default:
		return v1.PodRunning // OnFailure: restarting the failed ones
	}
}

// countSidecar: a sidecar holds initialisation until it has started;
// once stopped it no longer counts.
func countSidecar(n *containerCounts, st *v1.ContainerStatus) {
	switch {
	case st == nil:
		n.pendingInit++
		n.unk++
	case st.State.Running != nil:
		if st.Started == nil || !*st.Started {
			n.pendingInit++
		}
		n.running++
	case st.State.Terminated != nil:
	case st.State.Waiting != nil:
		if st.LastTerminationState.Terminated == nil {
			n.pendingInit++
		}
	default:
		n.pendingInit++
		n.unk++
	}
}

func anyAppContainerStarted(statuses []v1.ContainerStatus) bool {
	for _, st := range statuses {
		if st.State.Running != nil || st.State.Terminated != nil || st.LastTerminationState.Terminated != nil {
			return true
		}
	}
	return false
}

func findStatus(statuses []v1.ContainerStatus, name string) *v1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}
