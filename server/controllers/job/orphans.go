package job

import (
	"context"
	"encoding/json"
	"errors"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// orphanKey names either one pod or, with selector set, all pods of a
// namespace matching a finished or deleted Job's selector, whose tracking
// finalizer no running Job will remove.
type orphanKey struct {
	namespace, name, selector string
}

func podKey(p *corev1.Pod) orphanKey { return orphanKey{namespace: p.Namespace, name: p.Name} }

func selectorKey(job *batchv1.Job) orphanKey {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return orphanKey{namespace: job.Namespace, selector: labels.Nothing().String()}
	}
	return orphanKey{namespace: job.Namespace, selector: sel.String()}
}

// syncOrphans removes the tracking finalizer from pods no running Job
// owns, so that they can be deleted.
func (c *Controller) syncOrphans(ctx context.Context, key orphanKey) error {
	if key.selector == "" {
		pod, err := c.pods.Pods(key.namespace).Get(key.name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return c.releaseOrphan(ctx, pod)
	}
	sel, err := labels.Parse(key.selector)
	if err != nil {
		return nil // nothing can match a selector that does not parse
	}
	pods, err := c.pods.Pods(key.namespace).List(sel)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pods {
		if err := c.releaseOrphan(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) releaseOrphan(ctx context.Context, pod *corev1.Pod) error {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ref.Kind != jobKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			return nil // someone else's pod
		}
		if job := c.owningJob(pod.Namespace, ref); job != nil && (managedElsewhere(job) || !isFinished(job)) {
			return nil // its Job still counts it
		}
	}
	return c.removeTrackingFinalizer(ctx, pod)
}

// removeTrackingFinalizer drops the Job tracking finalizer from the pod,
// leaving any other finalizers alone; a pod already gone is fine.
func (c *Controller) removeTrackingFinalizer(ctx context.Context, pod *corev1.Pod) error {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer}},
	})
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
