package job

import (
	"context"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// podsForJob returns the pods the Job manages: those it controls and
// that still match its selector, plus orphans matching its selector,
// which it adopts (controller reference and tracking finalizer). Pods it
// controls that no longer match are released. The pods are the cache's:
// never changed in place.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job selector: %w", err)
	}
	owned, err := c.podsOwnedBy(job.UID)
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for _, p := range owned {
		if sel.Matches(labels.Set(p.Labels)) {
			pods = append(pods, p)
			continue
		}
		if p.DeletionTimestamp == nil {
			if err := c.releasePod(ctx, job, p); err != nil {
				return nil, err
			}
		}
	}
	candidates, err := c.pods.Pods(job.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	checked := false
	for _, p := range candidates {
		if metav1.GetControllerOf(p) != nil || p.DeletionTimestamp != nil {
			continue
		}
		if !checked {
			// Adopt only for a Job that is really there and not being
			// deleted: the cache may be behind a deletion.
			if ok, err := c.canAdopt(ctx, job); err != nil || !ok {
				return pods, err
			}
			checked = true
		}
		adopted, err := c.adoptPod(ctx, job, p)
		if err != nil {
			return nil, err
		}
		if adopted != nil {
			pods = append(pods, adopted)
		}
	}
	return pods, nil
}

func (c *Controller) canAdopt(ctx context.Context, job *batchv1.Job) (bool, error) {
	if job.DeletionTimestamp != nil {
		return false, nil
	}
	fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fresh.UID == job.UID && fresh.DeletionTimestamp == nil, nil
}

// adoptPod makes the Job the pod's controller and adds the tracking
// finalizer; the result stands for the pod in this sync.
func (c *Controller) adoptPod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) (*corev1.Pod, error) {
	ref := metav1.NewControllerRef(job, jobKind)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":             pod.UID, // only this pod, not a namesake
		"ownerReferences": []metav1.OwnerReference{*ref},
		"finalizers":      []string{batchv1.JobTrackingFinalizer},
	}})
	adopted, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsInvalid(err) {
		return nil, nil // gone, replaced, or claimed by someone else meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("adopting pod %s: %w", pod.Name, err)
	}
	return adopted, nil
}

// releasePod removes the Job's controller reference from a pod that no
// longer matches the Job's selector.
func (c *Controller) releasePod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":             pod.UID,
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": job.UID}},
	}})
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("releasing pod %s: %w", pod.Name, err)
	}
	return nil
}
