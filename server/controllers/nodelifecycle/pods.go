package nodelifecycle

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// markPodsNotReady sets the Ready condition of the node's pods to False
// through the status subresource, with a NodeNotReady warning on each pod
// changed. Pods without a Ready condition are left alone.
func (c *Controller) markPodsNotReady(ctx context.Context, pods []*corev1.Pod, nodeName string) error {
	var errs []error
	now := metav1.NewTime(c.now())
	for _, p := range pods {
		if p.Spec.NodeName != nodeName {
			continue
		}
		pod := p.DeepCopy()
		if !setPodNotReady(&pod.Status, now) {
			continue
		}
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("marking pod %s/%s not Ready: %w", pod.Namespace, pod.Name, err))
			}
			continue
		}
		c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, "NodeNotReady", "NodeNotReady", "Node is not ready")
	}
	return errors.Join(errs...)
}

// setPodNotReady turns an existing Ready condition False and reports
// whether that changed it.
func setPodNotReady(status *corev1.PodStatus, now metav1.Time) bool {
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionFalse {
			return false
		}
		c.Status = corev1.ConditionFalse
		c.LastTransitionTime = now
		return true
	}
	return false
}

// syncPod marks a pod just bound to a node not Ready when the node is not
// Ready (its kubelet may never get to it).
func (c *Controller) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	status, known := c.health.readyOf(pod.Spec.NodeName)
	if !known || status == "" || status == corev1.ConditionTrue {
		return nil
	}
	return c.markPodsNotReady(ctx, []*corev1.Pod{pod}, pod.Spec.NodeName)
}
