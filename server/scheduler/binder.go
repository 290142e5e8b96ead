package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// apiWorkers is how many API calls (bindings and status writes) run at
// once, so that the scheduling loop never waits for the API server.
const apiWorkers = 32

// noteLengthLimit is the longest event note the API accepts.
const noteLengthLimit = 1024

// call queues an API call for the workers; it gives up when ctx ends.
func (s *Scheduler) call(ctx context.Context, f func(ctx context.Context)) {
	select {
	case s.calls <- f:
	case <-ctx.Done():
	}
}

// runAPIWorkers performs queued API calls until ctx ends.
func (s *Scheduler) runAPIWorkers(ctx context.Context) {
	for i := 0; i < apiWorkers; i++ {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case call := <-s.calls:
					call(ctx)
				}
			}
		}()
	}
}

// bind asks the API server to assign the pod to node, asynchronously: the
// pod is already assumed there. A failed binding undoes the assumption
// and sends the pod back to the queue after a backoff.
func (s *Scheduler) bind(ctx context.Context, qp *queuedPod, pod *corev1.Pod, node string) {
	s.call(ctx, func(ctx context.Context) {
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}
		err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
		if err == nil {
			s.queue.done(qp)
			s.recorder.Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, node)
			return
		}
		s.cache.forget(pod.UID)
		// The resources it held for a moment are free again.
		s.queue.clusterChanged(freedByPodRemoval)
		if ctx.Err() != nil {
			return
		}
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Deleted, or bound by someone else: the informer tells
			// the rest.
			s.queue.done(qp)
			s.log.Info("binding refused", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
			return
		}
		s.log.Warn("binding failed; will retry", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
		s.queue.requeue(qp, 0, false)
		s.reportFailure(ctx, pod, corev1.PodReasonSchedulerError, err.Error())
	})
}

// reportUnschedulable tells the pod's owner why it waits: a Warning event
// and the PodScheduled=False condition, both with the summary.
func (s *Scheduler) reportUnschedulable(ctx context.Context, pod *corev1.Pod, message string) {
	s.call(ctx, func(ctx context.Context) {
		s.reportFailure(ctx, pod, corev1.PodReasonUnschedulable, message)
	})
}

func (s *Scheduler) reportFailure(ctx context.Context, pod *corev1.Pod, reason, message string) {
	s.recorder.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", truncate(message))
	if err := s.setUnscheduledCondition(ctx, pod, reason, message); err != nil && !apierrors.IsNotFound(err) {
		s.log.Warn("could not update pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// setUnscheduledCondition writes PodScheduled=False through pods/status,
// unless the pod already says exactly that.
func (s *Scheduler) setUnscheduledCondition(ctx context.Context, pod *corev1.Pod, reason, message string) error {
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason, Message: message, LastTransitionTime: metav1.Now()}
	if pod.Generation > 0 {
		cond.ObservedGeneration = pod.Generation
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message && c.ObservedGeneration == cond.ObservedGeneration {
			return nil
		}
		if c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime // the status did not change
		}
	}
	patch, err := json.Marshal(map[string]any{
		"status": map[string]any{"conditions": []corev1.PodCondition{cond}},
	})
	if err != nil {
		return fmt.Errorf("encoding status patch: %w", err)
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

func truncate(message string) string {
	if len(message) <= noteLengthLimit {
		return message
	}
	const suffix = " ..."
	return message[:noteLengthLimit-len(suffix)] + suffix
}
