package daemonset

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/server/controllers"
)

// podUpdated tells whether pod runs ds's current template: its hash
// label, or the legacy template generation label, says so.
func podUpdated(ds *appsv1.DaemonSet, pod *corev1.Pod, hash string) bool {
	if hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	gen, ok := templateGeneration(ds)
	return ok && pod.Labels[templateGenerationLabel] == strconv.FormatInt(gen, 10)
}

// updateStatus computes ds's status from its pods and nodes and stores it
// when it changed. observed says whether this sync acted on the current
// generation.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string, observed bool) error {
	byNode, err := c.podsByNode(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	now := c.now()
	place := placementOf(ds)
	var s appsv1.DaemonSetStatus
	for _, node := range nodes {
		shouldRun, _ := place.onNode(node)
		pods := byNode[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				s.NumberMisscheduled++
			}
			continue
		}
		s.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		s.CurrentNumberScheduled++
		sort.Slice(pods, func(i, j int) bool { return olderPod(pods[i], pods[j]) })
		pod := pods[0]
		if controllers.IsPodReady(pod) {
			s.NumberReady++
			if controllers.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				s.NumberAvailable++
			}
		}
		if podUpdated(ds, pod, hash) {
			s.UpdatedNumberScheduled++
		}
	}
	s.NumberUnavailable = s.DesiredNumberScheduled - s.NumberAvailable

	if err := c.storeStatus(ctx, ds, s, observed); err != nil {
		return fmt.Errorf("error storing status for daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	if ds.Spec.MinReadySeconds > 0 && s.NumberReady != s.NumberAvailable {
		// Ready pods become available with time alone.
		c.queue.AddAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

// storeStatus writes the counts of s into ds's status, retrying once
// with a fresh copy on failure.
func (c *Controller) storeStatus(ctx context.Context, ds *appsv1.DaemonSet, s appsv1.DaemonSetStatus, observed bool) error {
	old := ds.Status
	if old.DesiredNumberScheduled == s.DesiredNumberScheduled && old.CurrentNumberScheduled == s.CurrentNumberScheduled &&
		old.NumberMisscheduled == s.NumberMisscheduled && old.NumberReady == s.NumberReady &&
		old.UpdatedNumberScheduled == s.UpdatedNumberScheduled && old.NumberAvailable == s.NumberAvailable &&
		old.NumberUnavailable == s.NumberUnavailable && old.ObservedGeneration >= ds.Generation {
		return nil
	}
	client := c.client.AppsV1().DaemonSets(ds.Namespace)
	toUpdate := ds.DeepCopy()
	for attempt := 0; ; attempt++ {
		if observed {
			toUpdate.Status.ObservedGeneration = ds.Generation
		}
		toUpdate.Status.DesiredNumberScheduled = s.DesiredNumberScheduled
		toUpdate.Status.CurrentNumberScheduled = s.CurrentNumberScheduled
		toUpdate.Status.NumberMisscheduled = s.NumberMisscheduled
		toUpdate.Status.NumberReady = s.NumberReady
		toUpdate.Status.UpdatedNumberScheduled = s.UpdatedNumberScheduled
		toUpdate.Status.NumberAvailable = s.NumberAvailable
		toUpdate.Status.NumberUnavailable = s.NumberUnavailable
		_, err := client.UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil || attempt >= 1 {
			return err
		}
		if toUpdate, err = client.Get(ctx, ds.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}
