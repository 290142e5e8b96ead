package statefulset

import (
	"context"
	"errors"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kite/server/controllers"
)

// reconcile moves set one step toward its spec and records its status.
// pods are the pods set controls.
func (c *Controller) reconcile(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, selector labels.Selector, now time.Time) (*appsv1.StatefulSetStatus, error) {
	set = set.DeepCopy()
	revisions, err := c.listRevisions(set, selector)
	if err != nil {
		return nil, err
	}
	sortRevisions(revisions)
	current, update, collisionCount, err := c.revisionsFor(ctx, set, revisions)
	if err != nil {
		return nil, err
	}
	status, stepErr := c.step(ctx, set, current, update, collisionCount, pods, now)
	var statusErr error
	if status != nil {
		statusErr = c.writeStatus(ctx, set, status)
	}
	historyErr := c.truncateHistory(ctx, set, pods, revisions, current, update)
	return status, errors.Join(stepErr, statusErr, historyErr)
}

// step creates, fixes and deletes pods: the replicas in the ordinal range
// first (in order, each waiting for its predecessors to be running and
// available, unless pod management is Parallel), then the condemned pods
// beyond the range (highest ordinal first), then the rolling update.
func (c *Controller) step(ctx context.Context, set *appsv1.StatefulSet, currentRev, updateRev *appsv1.ControllerRevision, collisionCount int32, pods []*corev1.Pod, now time.Time) (*appsv1.StatefulSetStatus, error) {
	currentSet, err := applyRevision(set, currentRev)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, updateRev)
	if err != nil {
		return nil, err
	}
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    currentRev.Name,
		UpdateRevision:     updateRev.Name,
		CollisionCount:     &collisionCount,
		Conditions:         append([]appsv1.StatefulSetCondition(nil), set.Status.Conditions...),
	}
	minReady := set.Spec.MinReadySeconds

	start := startOrdinal(set)
	replicas := make([]*corev1.Pod, replicasOf(set))
	var condemned []*corev1.Pod
	for _, pod := range pods {
		switch {
		case inOrdinalRange(pod, set):
			replicas[ordinalOf(pod)-start] = pod
		case ordinalOf(pod) >= 0:
			condemned = append(condemned, pod)
		}
	}
	for i := range replicas {
		if replicas[i] == nil {
			replicas[i] = newVersionedPod(currentSet, updateSet, currentRev.Name, updateRev.Name, start+i)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })
	finish := func() { countStatus(status, minReady, currentRev, updateRev, now, replicas, condemned) }

	if set.DeletionTimestamp != nil {
		finish()
		return status, nil
	}

	// The first unavailable pod, in replicas then condemned by ascending
	// ordinal, may be deleted on scale-down even in ordered mode: waiting
	// for it would block forever.
	var firstUnavailable *corev1.Pod
	for _, pod := range replicas {
		if isUnavailable(pod, minReady, now) {
			firstUnavailable = pod
			break
		}
	}
	for i := len(condemned) - 1; firstUnavailable == nil && i >= 0; i-- {
		if isUnavailable(condemned[i], minReady, now) {
			firstUnavailable = condemned[i]
		}
	}

	ordered := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	passes := []struct {
		pods []*corev1.Pod
		fn   func(int) (bool, error)
	}{
		{replicas, func(i int) (bool, error) { return c.stepReplica(ctx, set, updateSet, ordered, replicas[i], now) }},
		{condemned, func(i int) (bool, error) { return c.fixCondemnedClaims(ctx, updateSet, condemned[i]) }},
		{condemned, func(i int) (bool, error) {
			return c.stepCondemned(ctx, set, firstUnavailable, ordered, condemned[i], now)
		}},
	}
	for _, p := range passes {
		if stop, err := forEach(len(p.pods), ordered, p.fn); stop || err != nil {
			finish()
			return status, err
		}
	}
	finish()

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, nil
	}
	return status, c.rollingUpdate(ctx, set, replicas, updateRev, status, now)
}

// newVersionedPod builds the pod for ordinal at the current revision when
// the ordinal is below the partition, at the update revision otherwise.
func newVersionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRevision, updateRevision string, ordinal int) *corev1.Pod {
	if atCurrentRevision(currentSet, ordinal) {
		return newPod(currentSet, ordinal, currentRevision)
	}
	return newPod(updateSet, ordinal, updateRevision)
}

func atCurrentRevision(set *appsv1.StatefulSet, ordinal int) bool {
	start := startOrdinal(set)
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		partition := 0
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		return ordinal < start+partition
	}
	return set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		ordinal < start+int(set.Status.CurrentReplicas)
}

// stepReplica handles the pod of one ordinal in range. It reports stop
// when an ordered set must wait before going on to later ordinals.
func (c *Controller) stepReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, ordered bool, pod *corev1.Pod, now time.Time) (bool, error) {
	if controllers.IsPodTerminal(pod) {
		// A failed or finished pod is replaced under the same name once
		// it is gone.
		if pod.DeletionTimestamp == nil {
			if err := c.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		stale, err := c.claimIsStale(set, pod)
		if err != nil || stale {
			return true, err
		}
		if err := c.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		if ordered {
			return true, nil
		}
	}
	if isPending(pod) {
		// Recreate claims deleted under a pod that has not started.
		if err := c.createClaims(ctx, set, pod); err != nil {
			return true, err
		}
		if err := c.applyRetentionPolicy(ctx, set, pod); err != nil {
			c.podEvent("update", set, pod, err)
			return true, err
		}
	}
	if ordered && (isTerminating(pod) || !isRunningAndReady(pod) || !controllers.IsPodAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	match, err := c.claimsMatchPolicy(updateSet, pod)
	if err != nil {
		match = true // an inconsistent pod is fixed below anyway
	}
	if identityMatches(set, pod) && storageMatches(set, pod) && match {
		return false, nil
	}
	if err := c.updatePod(ctx, updateSet, pod.DeepCopy()); err != nil {
		return true, err
	}
	return false, nil
}

// fixCondemnedClaims gives the claims of a pod beyond the range the owners
// the retention policy asks for on scale-down, before the pod goes.
func (c *Controller) fixCondemnedClaims(ctx context.Context, updateSet *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	match, err := c.claimsMatchPolicy(updateSet, pod)
	if err != nil {
		return true, err
	}
	if !match {
		if err := c.applyRetentionPolicy(ctx, updateSet, pod); err != nil {
			return true, err
		}
	}
	return false, nil
}

// stepCondemned deletes a pod beyond the range. Ordered sets delete one
// pod at a time, highest ordinal first, each after the previous is gone.
func (c *Controller) stepCondemned(ctx context.Context, set *appsv1.StatefulSet, firstUnavailable *corev1.Pod, ordered bool, pod *corev1.Pod, now time.Time) (bool, error) {
	if isTerminating(pod) {
		return ordered, nil
	}
	if ordered && pod != firstUnavailable &&
		(!isRunningAndReady(pod) || !controllers.IsPodAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	return true, c.deletePod(ctx, set, pod)
}

// rollingUpdate deletes pods not at the update revision, highest ordinal
// first and down to the partition, keeping at most maxUnavailable pods
// unavailable; the next passes recreate them at the update revision.
func (c *Controller) rollingUpdate(ctx context.Context, set *appsv1.StatefulSet, replicas []*corev1.Pod, updateRev *appsv1.ControllerRevision, status *appsv1.StatefulSetStatus, now time.Time) error {
	minReady := set.Spec.MinReadySeconds
	partition, maxUnavailable := 0, 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		var err error
		if maxUnavailable, err = scaledMaxUnavailable(ru.MaxUnavailable, len(replicas)); err != nil {
			return err
		}
	}
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	outdated := func(pod *corev1.Pod) bool { return revisionOf(pod) != updateRev.Name && !isTerminating(pod) }
	unavailable, unavailableOutdated := 0, 0
	for _, pod := range replicas {
		if isUnavailable(pod, minReady, now) {
			unavailable++
			if parallel && outdated(pod) {
				unavailableOutdated++
			}
		}
	}
	if unavailable >= maxUnavailable && unavailableOutdated == 0 {
		return nil
	}
	remove := func(pod *corev1.Pod) error {
		if err := c.deletePod(ctx, set, pod); err != nil {
			return err
		}
		status.CurrentReplicas--
		return nil
	}
	budget := maxUnavailable - unavailable
	if parallel {
		// Replacing outdated pods that are unavailable anyway costs
		// nothing; spend the budget on available ones after.
		for i := len(replicas) - 1; i >= partition; i-- {
			if pod := replicas[i]; outdated(pod) && !controllers.IsPodAvailable(pod, minReady, now) {
				if err := remove(pod); err != nil {
					return err
				}
			}
		}
	}
	for i := len(replicas) - 1; i >= partition && budget > 0; i-- {
		pod := replicas[i]
		if !outdated(pod) || (parallel && isUnavailable(pod, minReady, now)) {
			continue
		}
		if err := remove(pod); err != nil {
			return err
		}
		budget--
	}
	return nil
}

// scaledMaxUnavailable resolves maxUnavailable (default 1, percentages
// rounded down) against the replica count, never below 1.
func scaledMaxUnavailable(v *intstr.IntOrString, replicas int) (int, error) {
	one := intstr.FromInt32(1)
	n, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(v, one), replicas, false)
	if err != nil {
		return 0, err
	}
	return max(n, 1), nil
}
