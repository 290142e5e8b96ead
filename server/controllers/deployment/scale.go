package deployment

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// scale resizes d's ReplicaSets for a new replica count without rolling
// anything out. With one active ReplicaSet it gets everything; with a
// saturated new one the old ones go to zero; in the middle of a rolling
// update the change is spread over the active ReplicaSets in proportion
// to their sizes, so scaling neither speeds up nor slows down the
// rollout.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	if only := activeOrLatest(newRS, old); only != nil {
		if *only.Spec.Replicas == *d.Spec.Replicas {
			return nil
		}
		_, _, err := c.scaleReplicaSet(ctx, d, only, *d.Spec.Replicas, false)
		return err
	}
	if isSaturated(d, newRS) {
		for _, rs := range active(old) {
			if _, _, err := c.scaleReplicaSet(ctx, d, rs, 0, false); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := active(append(append([]*appsv1.ReplicaSet(nil), old...), newRS))
	sizes := proportionalSizes(d, all)
	for _, rs := range all {
		if _, _, err := c.scaleReplicaSet(ctx, d, rs, sizes[rs.Name], true); err != nil {
			return err
		}
	}
	return nil
}

// proportionalSizes spreads the difference between d's allowed size
// (replicas plus surge) and the active ReplicaSets' total over them in
// proportion to their sizes, larger ones first; what rounding leaves over
// goes to the largest. It sorts all in the order to apply the sizes.
func proportionalSizes(d *appsv1.Deployment, all []*appsv1.ReplicaSet) map[string]int32 {
	allowed := int32(0)
	if *d.Spec.Replicas > 0 {
		allowed = *d.Spec.Replicas + maxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	// Among equal sizes, grow newer ReplicaSets first, shrink older first.
	switch {
	case toAdd > 0:
		sort.SliceStable(all, largerFirst(all, true))
	case toAdd < 0:
		sort.SliceStable(all, largerFirst(all, false))
	}
	sizes := make(map[string]int32, len(all))
	added := int32(0)
	for _, rs := range all {
		sizes[rs.Name] = *rs.Spec.Replicas
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[rs.Name] += p
			added += p
		}
	}
	if toAdd != 0 && len(all) > 0 {
		first := all[0].Name
		sizes[first] = max(0, sizes[first]+toAdd-added)
	}
	return sizes
}

// scaleReplicaSet sets rs's size to size, and its replica annotations to
// d's; unless force is set nothing is written when the size is already
// right. It tells whether the size changed and returns the ReplicaSet as
// written.
func (c *Controller) scaleReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, size int32, force bool) (bool, *appsv1.ReplicaSet, error) {
	if !force && *rs.Spec.Replicas == size {
		return false, rs, nil
	}
	desired, ceiling := *d.Spec.Replicas, *d.Spec.Replicas+maxSurge(d)
	resize := *rs.Spec.Replicas != size
	if !resize && !replicasAnnotationsNeedUpdate(rs, desired, ceiling) {
		return false, rs, nil
	}
	from := *rs.Spec.Replicas
	cp := rs.DeepCopy()
	*cp.Spec.Replicas = size
	setReplicasAnnotations(cp, desired, ceiling)
	updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, nil, err
	}
	if !resize {
		return false, updated, nil
	}
	direction := "up"
	if size < from {
		direction = "down"
	}
	// The ReplicaSet as related object (at its new resourceVersion) keeps
	// every scaling its own Event: the recorder folds events that differ
	// only in their note into one series.
	c.recorder.Eventf(d, updated, corev1.EventTypeNormal, "ScalingReplicaSet", "Scale", "Scaled %s replica set %s from %d to %d", direction, updated.Name, from, size)
	return true, updated, nil
}
