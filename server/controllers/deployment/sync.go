package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// sync moves the Deployment key one step along its rollout.
func (c *Controller) sync(ctx context.Context, key string) error {
	err := c.syncDeployment(ctx, key)
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		// Nothing can be created in a namespace being deleted, and the
		// Deployment goes with it: no point in retrying.
		return nil
	}
	return err
}

func (c *Controller) syncDeployment(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	if reflect.DeepEqual(d.Spec.Selector, &metav1.LabelSelector{}) {
		c.recorder.Eventf(d, nil, corev1.EventTypeWarning, "SelectingAll", "Sync", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_ = c.updateStatus(ctx, d)
		}
		return nil
	}
	rss, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return err
	}
	// Oldest first: every decision below that walks the ReplicaSets in
	// order then makes the same choice each time.
	sort.SliceStable(rss, olderFirst(rss))

	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rss)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rss)
	}
	if rollbackTo(d) != nil {
		return c.rollback(ctx, d, rss)
	}
	scaling, err := c.isScalingEvent(ctx, d, rss)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rss)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rss)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rss)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// claimReplicaSets returns the ReplicaSets d controls, after adopting the
// matching orphans and releasing the owned ones that no longer match.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %w", d.Namespace, d.Name, err)
	}
	var claimed []*appsv1.ReplicaSet
	var errs []error
	var adoptErr error
	adoptChecked := false
	for _, rs := range all {
		matches := selector.Matches(labels.Set(rs.Labels))
		ref := metav1.GetControllerOfNoCopy(rs)
		switch {
		case ref != nil && ref.UID != d.UID:
		case ref != nil && matches:
			claimed = append(claimed, rs)
		case ref != nil:
			if d.DeletionTimestamp == nil {
				if err := c.patchOwner(ctx, rs, map[string]any{"$patch": "delete", "uid": d.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
					errs = append(errs, err)
				}
			}
		case matches && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			if !adoptChecked {
				adoptErr, adoptChecked = c.canAdopt(ctx, d), true
			}
			if adoptErr != nil {
				errs = append(errs, fmt.Errorf("can't adopt ReplicaSet %s/%s (%s): %w", rs.Namespace, rs.Name, rs.UID, adoptErr))
				continue
			}
			err := c.patchOwner(ctx, rs, metav1.NewControllerRef(d, controllerKind))
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			claimed = append(claimed, rs)
		}
	}
	return claimed, errors.Join(errs...)
}

// canAdopt checks with the API server that d still exists as the same
// object and is not being deleted.
func (c *Controller) canAdopt(ctx context.Context, d *appsv1.Deployment) error {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("can't recheck DeletionTimestamp: %w", err)
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("original Deployment %s/%s is gone: got uid %s, wanted %s", d.Namespace, d.Name, fresh.UID, d.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%s/%s has just been deleted at %s", d.Namespace, d.Name, fresh.DeletionTimestamp)
	}
	return nil
}

// patchOwner merges one owner reference entry into rs's (adding a
// controller reference, or deleting one by UID); rs's UID makes the patch
// apply only to the ReplicaSet that was looked at.
func (c *Controller) patchOwner(ctx context.Context, rs *appsv1.ReplicaSet, ref any) error {
	patch := map[string]any{"metadata": map[string]any{"ownerReferences": []any{ref}, "uid": rs.UID}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	return err
}

// syncStatusOnly reports the status of a Deployment being deleted,
// without changing anything.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rss, false)
	if err != nil {
		return err
	}
	return c.syncStatus(ctx, d, append(old, newRS), newRS)
}

// syncScale handles a paused Deployment or a change of its replica count:
// the ReplicaSets are resized, nothing is rolled out.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rss, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused && rollbackTo(d) == nil {
		if err := c.cleanupHistory(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, d, append(old, newRS), newRS)
}

// isScalingEvent tells whether d's replica count differs from the one its
// active ReplicaSets were last sized for.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (bool, error) {
	newRS, old, err := c.newAndOld(ctx, d, rss, false)
	if err != nil {
		return false, err
	}
	for _, rs := range active(append(old, newRS)) {
		if desired, ok := int32Annotation(rs, desiredReplicasAnnotation); ok && desired != *d.Spec.Replicas {
			return true, nil
		}
	}
	return false, nil
}
