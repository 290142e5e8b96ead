package podgc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"kite/server/controllers"
)

// collectTerminated deletes the terminated pods beyond the threshold,
// evicted ones first, then the oldest.
func (c *Controller) collectTerminated(ctx context.Context) error {
	if c.TerminatedThreshold <= 0 {
		return nil
	}
	all, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var terminated []*corev1.Pod
	for _, pod := range all {
		if isTerminated(pod) {
			terminated = append(terminated, pod)
		}
	}
	excess := len(terminated) - c.TerminatedThreshold
	if excess <= 0 {
		return nil
	}
	c.log.Info("garbage collecting terminated pods", "count", excess, "threshold", c.TerminatedThreshold)
	sortForCollection(terminated)
	var errs []error
	for _, pod := range terminated[:excess] {
		if err := c.failAndDelete(ctx, pod, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// collectNode deletes the pods of a node that is gone (after the
// quarantine and a live read, so a lagging informer cannot cost pods), or
// the terminating pods of a node that is out of service.
func (c *Controller) collectNode(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if err == nil {
		c.clearMissing(name)
		if !outOfService(node) {
			return nil
		}
		var errs []error
		pods := controllers.PodsOnNode(c.podIndex, name)
		sortForCollection(pods)
		for _, pod := range pods {
			if pod.DeletionTimestamp != nil {
				errs = append(errs, c.failAndDelete(ctx, pod, nil))
			}
		}
		return errors.Join(errs...)
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	pods := controllers.PodsOnNode(c.podIndex, name)
	if len(pods) == 0 {
		c.clearMissing(name)
		return nil
	}
	if wait := c.quarantineLeft(name); wait > 0 {
		return controllers.RetryAfter(wait)
	}
	if _, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
		c.clearMissing(name)
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("checking node %s: %w", name, err)
	}
	var errs []error
	for _, pod := range pods {
		c.log.Info("deleting orphaned pod", "pod", pod.Namespace+"/"+pod.Name, "node", name)
		errs = append(errs, c.failAndDelete(ctx, pod, &corev1.PodCondition{
			Type:    corev1.DisruptionTarget,
			Status:  corev1.ConditionTrue,
			Reason:  "DeletionByPodGC",
			Message: "PodGC: node no longer exists",
		}))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.clearMissing(name)
	return nil
}

// collectUnscheduled force-deletes a terminating pod that was never bound
// to a node: no kubelet will ever finish it.
func (c *Controller) collectUnscheduled(ctx context.Context, key string) error {
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
	if pod.DeletionTimestamp == nil || pod.Spec.NodeName != "" {
		return nil
	}
	c.log.Info("deleting unscheduled terminating pod", "pod", key)
	return c.failAndDelete(ctx, pod, nil)
}

// quarantineLeft starts or continues a node's quarantine and returns how
// much of it is left.
func (c *Controller) quarantineLeft(name string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	since, ok := c.missingSince[name]
	if !ok {
		since = now
		c.missingSince[name] = since
	}
	return since.Add(c.Quarantine).Sub(now)
}

func (c *Controller) clearMissing(name string) {
	c.mu.Lock()
	delete(c.missingSince, name)
	c.mu.Unlock()
}

// failAndDelete moves a pod that has not finished to the Failed phase
// (with condition, when given, saying why) and force-deletes it: nobody
// else will ever finish it.
func (c *Controller) failAndDelete(ctx context.Context, pod *corev1.Pod, condition *corev1.PodCondition) error {
	if !controllers.IsPodTerminal(pod) {
		status := map[string]any{"phase": corev1.PodFailed, "observedGeneration": pod.Generation}
		if condition != nil {
			cond := *condition
			cond.ObservedGeneration = pod.Generation
			cond.LastTransitionTime = metav1.NewTime(c.now())
			status["conditions"] = []corev1.PodCondition{cond}
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": pod.UID}, "status": status})
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("failing pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// isTerminated is upstream's test: any phase but Pending, Running and
// Unknown.
func isTerminated(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodPending, corev1.PodRunning, corev1.PodUnknown:
		return false
	}
	return true
}

// outOfService is a node an administrator declared dead: not Ready and
// tainted node.kubernetes.io/out-of-service.
func outOfService(node *corev1.Node) bool {
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if ready {
		return false
	}
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeOutOfService {
			return true
		}
	}
	return false
}

// sortForCollection orders pods as upstream collects them: evicted pods
// first (they matter least to controllers), then oldest first, then by
// name.
func sortForCollection(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		ei, ej := isEvicted(pods[i]), isEvicted(pods[j])
		if ei != ej {
			return ei
		}
		ti, tj := pods[i].CreationTimestamp, pods[j].CreationTimestamp
		if ti.Equal(&tj) {
			return pods[i].Name < pods[j].Name
		}
		return ti.Before(&tj)
	})
}

func isEvicted(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == "Evicted"
}
