package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"kite/server/controllers"
)

// rolloutRecreate moves a Recreate Deployment one step: old ReplicaSets to
// zero, then, once none of their pods runs any more, the new ReplicaSet
// (created only now) to the desired count.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rss, false)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)

	scaledDown := false
	for _, rs := range active(old) {
		scaled, _, err := c.scaleReplicaSet(ctx, d, rs, 0, false)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	running, err := c.oldPodsRunning(newRS, old)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if newRS == nil {
		if newRS, old, err = c.newAndOld(ctx, d, rss, true); err != nil {
			return err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	}
	if _, _, err := c.scaleReplicaSet(ctx, d, newRS, *d.Spec.Replicas, false); err != nil {
		return err
	}
	if complete(d, &d.Status) {
		if err := c.cleanupHistory(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning tells whether an old ReplicaSet still reports pods, or
// still has a pod that has not finished (terminating pods included: the
// new pods must not run beside them).
func (c *Controller) oldPodsRunning(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (bool, error) {
	if statusSum(old, actualReplicas) > 0 {
		return true, nil
	}
	for _, rs := range old {
		if newRS != nil && rs.UID == newRS.UID {
			continue
		}
		pods, err := controllers.ControlledBy[*corev1.Pod](c.podInformer.GetIndexer(), rs.Namespace, rs.UID)
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			if !controllers.IsPodTerminal(p) {
				return true, nil
			}
		}
	}
	return false, nil
}
