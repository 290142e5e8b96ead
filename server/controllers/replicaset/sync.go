package replicaset

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"kite/server/controllers"
)

// sync moves the ReplicaSet key one step toward its desired pod count and
// reports its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.rsLister.ReplicaSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	// Checked before reading pods: a pod event that lands in between then
	// only makes the next sync happen, never a decision on stale pods.
	mayManage := c.expectations.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(cached.Spec.Selector)
	if err != nil {
		c.log.Warn("invalid selector", "replicaset", key, "err", err)
		return nil
	}
	pods, err := controllers.Claimable[*corev1.Pod](c.podInformer.GetIndexer(), namespace, cached.UID)
	if err != nil {
		return err
	}
	var active []*corev1.Pod
	for _, p := range pods {
		if controllers.IsPodActive(p) {
			active = append(active, p)
		}
	}
	rs := cached.DeepCopy()
	claimer := controllers.NewClaimer(rs, controllerKind, selector, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
	})
	claimed, err := controllers.ClaimPods(ctx, claimer, c.client, active)
	if err != nil {
		return err
	}
	terminating := terminatingPodsOf(rs.UID, selector, pods)

	var manageErr error
	if mayManage && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, rs, claimed)
	}
	now := c.now()
	status := calculateStatus(rs, claimed, terminating, manageErr, now)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	if updated.Spec.MinReadySeconds > 0 && updated.Status.ReadyReplicas != updated.Status.AvailableReplicas {
		// Look again the moment the next ready pod becomes available
		// (counted from when availability was evaluated, so a pod that
		// became available since is looked at right away).
		next := time.Duration(updated.Spec.MinReadySeconds) * time.Second
		if d, ok := controllers.UntilAvailable(claimed, updated.Spec.MinReadySeconds, now); ok {
			next = max(0, d-c.now().Sub(now))
		}
		c.queue.AddAfter(key, next)
	}
	return nil
}

// terminatingPodsOf are the pods controlled by uid, matching selector,
// that are being deleted but have not finished.
func terminatingPodsOf(uid types.UID, selector labels.Selector, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref != nil && ref.UID == uid && controllers.IsPodTerminating(p) && selector.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}
