package statefulset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"kite/server/controllers"
)

// maxBatch bounds the API calls a Parallel set makes at once.
const maxBatch = 500

// forEach calls fn for indexes 0..n-1. In order, it stops at the first
// call that asks to stop or fails. Otherwise it runs the calls
// concurrently in batches of doubling size (1, 2, 4, ...), stopping after
// a batch with failures, so a systematic error costs few calls.
func forEach(n int, ordered bool, fn func(int) (bool, error)) (bool, error) {
	if ordered {
		for i := 0; i < n; i++ {
			if stop, err := fn(i); stop || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	next := 0
	for batch := min(1, n); batch > 0; batch = min(2*batch, n-next, maxBatch) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for j := 0; j < batch; j++ {
			wg.Add(1)
			go func(j, i int) {
				defer wg.Done()
				_, errs[j] = fn(i)
			}(j, next+j)
		}
		wg.Wait()
		next += batch
		if err := errors.Join(errs...); err != nil {
			return true, err
		}
	}
	return false, nil
}

// countStatus fills status's replica counts from the pods of each list.
func countStatus(status *appsv1.StatefulSetStatus, minReady int32, current, update *appsv1.ControllerRevision, now time.Time, lists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	status.CurrentReplicas, status.UpdatedReplicas = 0, 0
	for _, pods := range lists {
		for _, pod := range pods {
			if isCreated(pod) {
				status.Replicas++
			}
			if isRunningAndReady(pod) {
				status.ReadyReplicas++
				if controllers.IsPodAvailable(pod, minReady, now) {
					status.AvailableReplicas++
				}
			}
			if isCreated(pod) && !isTerminating(pod) {
				if revisionOf(pod) == current.Name {
					status.CurrentReplicas++
				}
				if revisionOf(pod) == update.Name {
					status.UpdatedReplicas++
				}
			}
		}
	}
}

// completeUpdate makes the update revision current once every replica is
// updated and ready.
func completeUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	want := replicasOf(set)
	if status.UpdatedReplicas == want && status.ReadyReplicas == want && status.Replicas == want {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

// statusChanged tells whether status differs from what set records (a
// newer observed generation counts as a change).
func statusChanged(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) bool {
	old := &set.Status
	return status.ObservedGeneration > old.ObservedGeneration ||
		status.Replicas != old.Replicas ||
		status.CurrentReplicas != old.CurrentReplicas ||
		status.ReadyReplicas != old.ReadyReplicas ||
		status.UpdatedReplicas != old.UpdatedReplicas ||
		status.AvailableReplicas != old.AvailableReplicas ||
		status.CurrentRevision != old.CurrentRevision ||
		status.UpdateRevision != old.UpdateRevision ||
		!reflect.DeepEqual(status.Conditions, old.Conditions)
}

// writeStatus stores status in set (a copy) when it changed.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	completeUpdate(set, status)
	if !statusChanged(set, status) {
		return nil
	}
	set = set.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set.Status = *status
		updated, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
		if err == nil {
			c.written.wrote(updated, resourceSets, updated.ResourceVersion)
			return nil
		}
		if fresh, getErr := c.sets.StatefulSets(set.Namespace).Get(set.Name); getErr == nil {
			set = fresh.DeepCopy()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("updating status of %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}
