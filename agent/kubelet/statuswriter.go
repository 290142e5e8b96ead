package kubelet

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusTarget is the API object a pod's status goes to: the pod itself,
// or for a static pod its mirror pod (nil until it exists).
func (k *Kubelet) statusTarget(pod *v1.Pod) *v1.Pod {
	if isStaticPod(pod) {
		return k.sources.mirrorOf(pod)
	}
	if p := k.sources.apiPod(pod.Namespace, pod.Name); p != nil && p.UID == pod.UID {
		return p
	}
	return pod
}

// baseStatus is the status a new one is computed from: the last one this
// kubelet wrote, with the conditions others own taken fresh from the API.
func (k *Kubelet) baseStatus(w *podWorker, pod *v1.Pod) v1.PodStatus {
	var api v1.PodStatus
	if t := k.statusTarget(pod); t != nil {
		api = t.Status
	}
	if w.lastStatus == nil {
		return *api.DeepCopy()
	}
	base := *w.lastStatus.DeepCopy()
	base.Conditions = mergeForeignConditions(base.Conditions, api.Conditions)
	if isTerminalPhase(api.Phase) {
		base.Phase = api.Phase
	}
	return base
}

// mergeForeignConditions keeps the kubelet's own conditions from ours and
// everything else from theirs.
func mergeForeignConditions(ours, theirs []v1.PodCondition) []v1.PodCondition {
	var out []v1.PodCondition
	for _, c := range ours {
		if isKubeletCondition(c.Type) {
			out = append(out, c)
		}
	}
	for _, c := range theirs {
		if !isKubeletCondition(c.Type) {
			out = append(out, c)
		}
	}
	return out
}

// writeStatus sends the status through pods/status when it differs from
// what the API holds and from what this kubelet last wrote.
func (k *Kubelet) writeStatus(ctx context.Context, w *podWorker, pod *v1.Pod, status v1.PodStatus) error {
	target := k.statusTarget(pod)
	if target == nil {
		return nil // static pod without its mirror yet
	}
	if apiequality.Semantic.DeepEqual(target.Status, status) {
		w.lastStatus = &status
		return nil
	}
	if w.lastStatus != nil && apiequality.Semantic.DeepEqual(*w.lastStatus, status) {
		return nil
	}
	if isTerminalPhase(target.Status.Phase) && !isTerminalPhase(status.Phase) {
		return nil
	}
	pods := k.cfg.Client.CoreV1().Pods(target.Namespace)
	update := target.DeepCopy()
	update.Status = status
	_, err := pods.UpdateStatus(ctx, update, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		fresh, gerr := pods.Get(ctx, target.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("read pod %s after a status conflict: %w", podFullName(pod), gerr)
		}
		if fresh.UID != target.UID {
			return nil
		}
		status.Conditions = mergeForeignConditions(status.Conditions, fresh.Status.Conditions)
		fresh.Status = status
		_, err = pods.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("update status of pod %s: %w", podFullName(pod), err)
	}
	w.lastStatus = &status
	return nil
}

func isAPINotFoundOrConflict(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsConflict(err)
}
