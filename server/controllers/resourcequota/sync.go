package resourcequota

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"kite/server/controllers"
)

// sync recalculates one quota's usage and writes its status when it
// changed. It looks again after the resync period, or sooner when a pod's
// charge runs out (its deletion grace period ends) or a counted resource
// was not ready.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	now := c.now()
	retry := c.ResyncPeriod
	sooner := func(d time.Duration) {
		if d > 0 && (retry <= 0 || d < retry) {
			retry = d
		}
	}

	bySource := map[schema.GroupResource][]corev1.ResourceName{}
	for res := range q.Spec.Hard {
		if gr, ok := sourceOf(res); ok {
			bySource[gr] = append(bySource[gr], res)
		}
	}
	// What cannot be measured now keeps its last value, as upstream.
	used := add(nil, q.Status.Used)
	selectors := scopeSelectors(q)
	for gr, names := range bySource {
		measured, ok, next := c.measure(ns, gr, names, selectors, now)
		if !ok {
			sooner(next)
			continue
		}
		for _, res := range names {
			used[res] = measured[res]
		}
		sooner(next)
	}
	for res := range used {
		if _, ok := q.Spec.Hard[res]; !ok {
			delete(used, res)
		}
	}

	if q.Status.Hard == nil || q.Status.Used == nil || !equalLists(q.Spec.Hard, q.Status.Hard) || !equalLists(used, q.Status.Used) {
		update := q.DeepCopy()
		update.Status = corev1.ResourceQuotaStatus{Hard: add(nil, q.Spec.Hard), Used: used}
		if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, update, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("updating status of quota %s: %w", key, err)
		}
	}
	if retry > 0 {
		return controllers.RetryAfter(retry)
	}
	return nil
}

// chargeSlack is added to the moment a charge runs out before looking again.
const chargeSlack = 100 * time.Millisecond

// measure sums what the namespace's objects of gr use of names, counting
// only objects within every scope requirement. ok is false when gr cannot
// be measured yet; next says when to look again (0: not on its account).
func (c *Controller) measure(ns string, gr schema.GroupResource, names []corev1.ResourceName, selectors []corev1.ScopedResourceSelectorRequirement, now time.Time) (used corev1.ResourceList, ok bool, next time.Duration) {
	used = corev1.ResourceList{}
	for _, n := range names {
		used[n] = zero()
	}
	switch gr {
	case podsGR:
		pods, err := c.pods.Pods(ns).List(labels.Everything())
		if err != nil {
			return nil, false, time.Second
		}
		for _, pod := range pods {
			in, err := allMatch(selectors, func(r corev1.ScopedResourceSelectorRequirement) (bool, error) { return podInScope(pod, r) })
			if err != nil {
				break // a bad selector counts nothing further, as upstream
			}
			if !in {
				continue
			}
			usage, until := podUsage(pod, now)
			used = addMasked(used, usage)
			if !until.IsZero() {
				if d := until.Sub(now) + chargeSlack; next == 0 || d < next {
					next = d
				}
			}
		}
	case servicesGR:
		if len(selectors) > 0 {
			return used, true, 0 // Services are in no scope
		}
		svcs, err := c.services.Services(ns).List(labels.Everything())
		if err != nil {
			return nil, false, time.Second
		}
		for _, svc := range svcs {
			used = addMasked(used, serviceUsage(svc))
		}
	case pvcsGR:
		claims, err := c.pvcs.PersistentVolumeClaims(ns).List(labels.Everything())
		if err != nil {
			return nil, false, time.Second
		}
		for _, pvc := range claims {
			in, err := allMatch(selectors, func(r corev1.ScopedResourceSelectorRequirement) (bool, error) { return pvcInScope(pvc, r) })
			if err != nil {
				break
			}
			if in {
				used = addMasked(used, pvcUsage(pvc))
			}
		}
	default:
		if len(selectors) > 0 {
			return used, true, 0 // plain counts are in no scope
		}
		n, ready, retry := c.counters.count(ns, gr)
		if !ready {
			return nil, false, retry
		}
		for _, res := range names {
			used[res] = quantity(int64(n))
		}
	}
	return used, true, next
}

// allMatch reports whether in holds for every requirement.
func allMatch(reqs []corev1.ScopedResourceSelectorRequirement, in func(corev1.ScopedResourceSelectorRequirement) (bool, error)) (bool, error) {
	for _, r := range reqs {
		ok, err := in(r)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// addMasked adds the parts of usage that used tracks.
func addMasked(used, usage corev1.ResourceList) corev1.ResourceList {
	for k, v := range usage {
		if cur, ok := used[k]; ok {
			cur.Add(v)
			used[k] = cur
		}
	}
	return used
}
