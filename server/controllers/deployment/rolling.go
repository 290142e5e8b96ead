package deployment

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling moves a RollingUpdate Deployment one step: grow the new
// ReplicaSet as far as maxSurge allows, or else shrink the old ones as far
// as maxUnavailable allows; once complete, trim the history.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rss, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)

	scaledUp, err := c.reconcileNewReplicaSet(ctx, d, all, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, d, all, active(old), newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if complete(d, &d.Status) {
		if err := c.cleanupHistory(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// reconcileNewReplicaSet grows the new ReplicaSet within the surge (or
// shrinks it to the desired count); it tells whether it changed.
func (c *Controller) reconcileNewReplicaSet(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if *newRS.Spec.Replicas == *d.Spec.Replicas {
		return false, nil
	}
	if *newRS.Spec.Replicas > *d.Spec.Replicas {
		scaled, _, err := c.scaleReplicaSet(ctx, d, newRS, *d.Spec.Replicas, false)
		return scaled, err
	}
	size, err := newRSReplicas(d, all, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := c.scaleReplicaSet(ctx, d, newRS, size, false)
	return scaled, err
}

// reconcileOldReplicaSets shrinks the old ReplicaSets as far as
// availability allows: first their unavailable pods, which cost nothing,
// then available ones down to the minimum available count. Unavailable
// pods of the new ReplicaSet count against what may go, so a broken new
// template never drains the old pods. It tells whether anything shrank.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, d *appsv1.Deployment, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if specReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := *d.Spec.Replicas - maxUnavailable(d)
	newUnavailable := *newRS.Spec.Replicas - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	old, cleaned, err := c.cleanupUnhealthyReplicas(ctx, d, old, maxScaledDown)
	if err != nil {
		// Upstream carries on as if nothing happened; the next sync retries.
		c.log.Warn("scaling down unhealthy old replicas", "deployment", d.Namespace+"/"+d.Name, "err", err)
		return false, nil
	}
	all = append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	scaled, err := c.scaleDownOldForRollingUpdate(ctx, d, all, old)
	if err != nil {
		c.log.Warn("scaling down old replicas", "deployment", d.Namespace+"/"+d.Name, "err", err)
		return false, nil
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthyReplicas shrinks old ReplicaSets, oldest first, by their
// unavailable pods, at most limit in all; the ReplicaSet controller
// deletes not-ready pods first, so availability does not drop.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet, limit int32) ([]*appsv1.ReplicaSet, int32, error) {
	sort.SliceStable(old, olderFirst(old))
	var total int32
	for i, rs := range old {
		if total >= limit {
			break
		}
		if *rs.Spec.Replicas == 0 || *rs.Spec.Replicas == rs.Status.AvailableReplicas {
			continue
		}
		n := min(limit-total, *rs.Spec.Replicas-rs.Status.AvailableReplicas)
		size := *rs.Spec.Replicas - n
		if size > *rs.Spec.Replicas {
			return nil, 0, fmt.Errorf("when cleaning up unhealthy replicas, got invalid request to scale down %s/%s %d -> %d", rs.Namespace, rs.Name, *rs.Spec.Replicas, size)
		}
		_, updated, err := c.scaleReplicaSet(ctx, d, rs, size, false)
		if err != nil {
			return nil, total, err
		}
		total += n
		old[i] = updated
	}
	return old, total, nil
}

// scaleDownOldForRollingUpdate shrinks old ReplicaSets, oldest first, by
// as many pods as are available beyond the minimum.
func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, d *appsv1.Deployment, all, old []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := *d.Spec.Replicas - maxUnavailable(d)
	available := statusSum(all, availableReplicas)
	if available <= minAvailable {
		return 0, nil
	}
	sort.SliceStable(old, olderFirst(old))
	want := available - minAvailable
	var total int32
	for _, rs := range old {
		if total >= want {
			break
		}
		if *rs.Spec.Replicas == 0 {
			continue
		}
		n := min(*rs.Spec.Replicas, want-total)
		if _, _, err := c.scaleReplicaSet(ctx, d, rs, *rs.Spec.Replicas-n, false); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
