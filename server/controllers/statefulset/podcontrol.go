package statefulset

import (
	"context"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// createPod creates pod's claims, then pod, then sets the claims' owners
// for the retention policy, recording events as upstream does.
func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.createClaims(ctx, set, pod); err != nil {
		c.podEvent("create", set, pod, err)
		return err
	}
	created, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return err
	}
	if err != nil {
		c.podEvent("create", set, pod, err)
		return err
	}
	c.written.wrote(set, resourcePods, created.ResourceVersion)
	if err := c.applyRetentionPolicy(ctx, set, created); err != nil {
		c.podEvent("update", set, created, err)
		return err
	}
	c.podEvent("create", set, created, nil)
	return nil
}

// updatePod gives pod (a copy) its identity, storage and claim owners,
// retrying on conflicts with a fresher copy from the cache.
func (c *Controller) updatePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	attempted := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		consistent := true
		if !identityMatches(set, pod) {
			setIdentity(set, pod)
			consistent = false
		}
		if !storageMatches(set, pod) {
			setStorage(set, pod)
			consistent = false
			if err := c.createClaims(ctx, set, pod); err != nil {
				c.podEvent("update", set, pod, err)
				return err
			}
		}
		match, err := c.claimsMatchPolicy(set, pod)
		if err != nil {
			c.podEvent("update", set, pod, err)
			return err
		}
		if !match {
			if err := c.applyRetentionPolicy(ctx, set, pod); err != nil {
				c.podEvent("update", set, pod, err)
				return err
			}
		}
		if consistent {
			return nil
		}
		attempted = true
		updated, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
		if err == nil {
			c.written.wrote(set, resourcePods, updated.ResourceVersion)
			return nil
		}
		if fresh, getErr := c.pods.Pods(pod.Namespace).Get(pod.Name); getErr == nil {
			pod = fresh.DeepCopy()
		}
		return err
	})
	if attempted {
		c.podEvent("update", set, pod, err)
	}
	return err
}

// deletePod deletes pod; one already gone counts as deleted.
func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		c.podEvent("delete", set, pod, err)
		return err
	}
	c.podEvent("delete", set, pod, nil)
	return nil
}

// podEvent records upstream's event for verb done to a pod of set:
// SuccessfulCreate "Create Pod web-0 in StatefulSet web successful", or
// FailedCreate with the error. The pod is the related object: events.k8s.io
// recorders fold events that differ only in their note into one series.
func (c *Controller) podEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	title := titleCase(verb)
	if err == nil {
		c.recorder.Eventf(set, pod, corev1.EventTypeNormal, "Successful"+title, title,
			"%s Pod %s in StatefulSet %s successful", title, pod.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, pod, corev1.EventTypeWarning, "Failed"+title, title,
		"%s Pod %s in StatefulSet %s failed error: %s", title, pod.Name, set.Name, err)
}

// claimEvent records upstream's event for verb done to a claim of a pod.
func (c *Controller) claimEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	title := titleCase(verb)
	if err == nil {
		c.recorder.Eventf(set, claim, corev1.EventTypeNormal, "Successful"+title, title,
			"%s Claim %s Pod %s in StatefulSet %s success", title, claim.Name, pod.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, claim, corev1.EventTypeWarning, "Failed"+title, title,
		"%s Claim %s for Pod %s in StatefulSet %s failed error: %s", title, claim.Name, pod.Name, set.Name, err)
}

func titleCase(verb string) string {
	if verb == "" {
		return verb
	}
	return strings.ToUpper(verb[:1]) + verb[1:]
}
