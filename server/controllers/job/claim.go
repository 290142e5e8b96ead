package job

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/server/controllers"
)

// podsForJob returns the pods the Job manages: those it controls and
// that still match its selector, plus orphans matching its selector,
// which it adopts (controller reference and tracking finalizer). Pods it
// controls that no longer match are released (both taken away again). An
// adopted pod is returned as the adoption left it; the others are the
// cache's: never changed in place.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job selector: %w", err)
	}
	pods, err := controllers.Claimable[*corev1.Pod](c.podsInf.GetIndexer(), job.Namespace, job.UID)
	if err != nil {
		return nil, err
	}
	claimer := controllers.NewClaimer(job, jobKind, sel, func(ctx context.Context) (metav1.Object, error) {
		return c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	}).AddFinalizers(batchv1.JobTrackingFinalizer)
	return controllers.ClaimPods(ctx, claimer, c.client, pods)
}
