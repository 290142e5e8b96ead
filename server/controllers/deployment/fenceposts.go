package deployment

import (
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// fenceposts resolves maxSurge (percentages rounded up) and
// maxUnavailable (rounded down) against desired. Both resolving to zero
// would stall the rollout, so maxUnavailable is then 1: surging may be
// impossible (quota), going one pod down is not.
func fenceposts(surge, unavailable *intstr.IntOrString, desired int32) (int32, int32, error) {
	zero := intstr.FromInt32(0)
	s, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(surge, zero), int(desired), true)
	if err != nil {
		return 0, 0, err
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(unavailable, zero), int(desired), false)
	if err != nil {
		return 0, 0, err
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u), nil
}

// maxSurge is how many pods a rolling update may run above the desired
// count; 0 for other strategies.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil {
		return 0
	}
	s, _, _ := fenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, *d.Spec.Replicas)
	return s
}

// maxUnavailable is how many of the desired pods a rolling update may
// have unavailable, never more than the desired count.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil || *d.Spec.Replicas == 0 {
		return 0
	}
	_, u, _ := fenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, *d.Spec.Replicas)
	return min(u, *d.Spec.Replicas)
}

// newRSReplicas is the size the new ReplicaSet may grow to now: for a
// rolling update, as far as the surge allows without passing the desired
// count; for Recreate, the desired count.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	switch d.Spec.Strategy.Type {
	case appsv1.RollingUpdateDeploymentStrategyType:
		surge := intstr.FromInt32(0)
		if d.Spec.Strategy.RollingUpdate != nil && d.Spec.Strategy.RollingUpdate.MaxSurge != nil {
			surge = *d.Spec.Strategy.RollingUpdate.MaxSurge
		}
		s, err := intstr.GetScaledValueFromIntOrPercent(&surge, int(*d.Spec.Replicas), true)
		if err != nil {
			return 0, err
		}
		current := specReplicas(all)
		ceiling := *d.Spec.Replicas + int32(s)
		if current >= ceiling {
			return *newRS.Spec.Replicas, nil
		}
		return *newRS.Spec.Replicas + min(ceiling-current, *d.Spec.Replicas-*newRS.Spec.Replicas), nil
	case appsv1.RecreateDeploymentStrategyType:
		return *d.Spec.Replicas, nil
	}
	return 0, fmt.Errorf("deployment type %v isn't supported", d.Spec.Strategy.Type)
}

// proportion is how many replicas rs gains (or loses, when negative) when
// toAdd replicas are spread over the active ReplicaSets of a Deployment
// being scaled, added of them already handed out: rs's share of the new
// maximum size, bounded by what is left to hand out.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || *rs.Spec.Replicas == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	share := fraction(rs, d)
	left := toAdd - added
	if toAdd > 0 {
		return min(share, left)
	}
	return max(share, left)
}

// fraction estimates rs's change in size when the Deployment's maximum
// size goes from what rs's max-replicas annotation recorded to the
// current one.
func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if *d.Spec.Replicas == 0 {
		return -*rs.Spec.Replicas
	}
	newMax := *d.Spec.Replicas + maxSurge(d)
	oldMax, ok := int32Annotation(rs, maxReplicasAnnotation)
	if !ok || oldMax == 0 {
		// Annotation lost: the best guess is the current size.
		oldMax = d.Status.Replicas
		if oldMax == 0 {
			return 0
		}
	}
	size := float64(*rs.Spec.Replicas*newMax) / float64(oldMax)
	return int32(math.Round(size)) - *rs.Spec.Replicas
}
