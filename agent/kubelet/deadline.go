package kubelet

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
)

// What a pod past its activeDeadlineSeconds reports, as upstream.
const (
	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// podFailure is a reason the kubelet failed a pod by itself.
type podFailure struct {
	Reason  string
	Message string
}

// deadlineLeft is the time until the pod's activeDeadlineSeconds runs out
// (negative once it has); ok is false without a deadline or start time.
func deadlineLeft(pod *v1.Pod, status v1.PodStatus, now time.Time) (left time.Duration, ok bool) {
	if pod.Spec.ActiveDeadlineSeconds == nil || status.StartTime == nil {
		return 0, false
	}
	end := status.StartTime.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second)
	return end.Sub(now), true
}

// syncDeadlineExceeded stops a pod that ran past its deadline and fails
// it with reason DeadlineExceeded.
func (k *Kubelet) syncDeadlineExceeded(ctx context.Context, w *podWorker, pod *v1.Pod) (time.Duration, error) {
	if w.failure == nil {
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonDeadlineExceeded, messageDeadlineExceeded)
		w.failure = &podFailure{Reason: reasonDeadlineExceeded, Message: messageDeadlineExceeded}
	}
	rp, err := k.readRuntimePod(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	if err := k.killPod(ctx, pod, rp, nil); err != nil {
		return 0, err
	}
	if _, err := k.reportStatus(ctx, w, pod, nil, true); err != nil {
		return 0, err
	}
	return k.syncFinished(ctx, w, pod)
}
