package daemonset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	intstrutil "k8s.io/apimachinery/pkg/util/intstr"

	"kite/server/controllers"
)

// surgeCount is how many nodes may run an extra new pod during a rolling
// update (0 when surge is not asked for).
func surgeCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0, nil
	}
	return intstrutil.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
}

// unavailableCount is how many nodes may be without an available pod
// during a rolling update.
func unavailableCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil {
		return 0, nil
	}
	return intstrutil.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
}

func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}

// splitPods finds the one new and the one old pod on a node; ok is false
// when there are more (manage prunes them first).
func splitPods(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if podUpdated(ds, pod, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// rollingUpdate replaces old pods within the strategy's limits. Without
// surge it deletes old pods while at most maxUnavailable nodes lack an
// available pod (manage then creates the new ones); with surge it starts
// new pods next to old ones on at most maxSurge nodes and deletes each old
// pod once its replacement is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := c.podsByNode(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	place := placementOf(ds)
	desired := 0
	for _, node := range nodes {
		if run, _ := place.onNode(node); run {
			desired++
			if _, ok := byNode[node.Name]; !ok {
				byNode[node.Name] = nil // a node waiting for its pod is unavailable
			}
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return fmt.Errorf("invalid value for MaxUnavailable: %w", err)
	}
	maxSurge, err := surgeCount(ds, desired)
	if err != nil {
		return fmt.Errorf("invalid value for MaxSurge: %w", err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		maxUnavailable = 1 // an impossible strategy: allow progress
	}
	now := c.now()
	minReady := ds.Spec.MinReadySeconds

	if maxSurge == 0 {
		unavailable := 0
		var replace, candidates []string
		for _, pods := range byNode {
			newPod, oldPod, ok := splitPods(ds, pods, hash)
			switch {
			case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
				unavailable++ // manage creates or prunes here
			case newPod != nil:
				if !controllers.IsPodAvailable(newPod, minReady, now) {
					unavailable++
				}
			case !controllers.IsPodAvailable(oldPod, minReady, now):
				// Replacing a pod that is down anyway costs nothing.
				replace = append(replace, oldPod.Name)
				unavailable++
			case unavailable < maxUnavailable:
				candidates = append(candidates, oldPod.Name)
			}
		}
		budget := min(max(maxUnavailable-unavailable, 0), len(candidates))
		return c.syncNodes(ctx, ds, append(replace, candidates[:budget]...), nil, hash)
	}

	var remove, moveOff, surgeNodes, candidateNodes []string
	surging, available := 0, 0
	for nodeName, pods := range byNode {
		newPod, oldPod, ok := splitPods(ds, pods, hash)
		if !ok {
			surging++
			continue
		}
		if oldPod != nil && controllers.IsPodAvailable(oldPod, minReady, now) || oldPod == nil && newPod != nil && controllers.IsPodAvailable(newPod, minReady, now) {
			available++
		}
		switch {
		case oldPod == nil:
			// Nothing to replace; manage creates a missing pod.
		case newPod == nil:
			node, err := c.nodes.Get(nodeName)
			if err != nil {
				return fmt.Errorf("couldn't get node for nodeName %q: %w", nodeName, err)
			}
			run, _ := place.onNode(node)
			switch {
			case !controllers.IsPodAvailable(oldPod, minReady, now) && !run:
				remove = append(remove, oldPod.Name)
			case !controllers.IsPodAvailable(oldPod, minReady, now):
				surgeNodes = append(surgeNodes, nodeName)
			case !run:
				moveOff = append(moveOff, oldPod.Name)
			case surging < maxSurge:
				candidateNodes = append(candidateNodes, nodeName)
			}
		case !controllers.IsPodAvailable(newPod, minReady, now):
			surging++
		default:
			remove = append(remove, oldPod.Name)
		}
	}
	// Pods on nodes the set no longer wants go only while more pods are
	// available than wanted: surge promises no loss of availability.
	if extra := min(available-desired, len(moveOff)); extra > 0 {
		remove = append(remove, moveOff[:extra]...)
	}
	budget := min(max(maxSurge-surging, 0), len(candidateNodes))
	return c.syncNodes(ctx, ds, remove, append(surgeNodes, candidateNodes[:budget]...), hash)
}
