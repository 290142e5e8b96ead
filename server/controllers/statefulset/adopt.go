package statefulset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"kite/server/controllers"
)

// claimer returns what adopts and releases for set in one sync: the
// pods and revisions its selector matches (pods only when their name
// makes them members).
func (c *Controller) claimer(set *appsv1.StatefulSet, selector labels.Selector) *controllers.Claimer {
	return controllers.NewClaimer(set, controllerKind, selector, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
}

// claimPods returns the pods set controls, after adopting orphans that
// match its selector and carry a member name, and releasing pods that no
// longer match. Returned pods may be the cache's: copy before changing.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimer := c.claimer(set, selector).Filter(func(obj metav1.Object) bool { return isMember(set, obj.(*corev1.Pod)) })
	pods := c.client.CoreV1().Pods(set.Namespace)
	return controllers.Claim(ctx, claimer, "Pod", all, func(ctx context.Context, pod *corev1.Pod, patch []byte) (*corev1.Pod, error) {
		patched, err := pods.Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err == nil {
			c.written.wrote(set, resourcePods, patched.ResourceVersion)
		}
		return patched, err
	})
}

// adoptOrphanRevisions makes set the controller of ControllerRevisions
// its selector matches that have no controller.
func (c *Controller) adoptOrphanRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) error {
	revisions, err := c.listRevisions(set, selector)
	if err != nil {
		return err
	}
	var orphans []*appsv1.ControllerRevision
	for _, r := range revisions {
		if metav1.GetControllerOfNoCopy(r) == nil {
			orphans = append(orphans, r)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	claimer := c.claimer(set, selector)
	if err := claimer.CanAdopt(ctx); err != nil {
		return fmt.Errorf("can't adopt ControllerRevisions: %w", err)
	}
	for _, r := range orphans {
		patch, err := claimer.AdoptPatch(r.UID)
		if err != nil {
			return err
		}
		adopted, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, r.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("adopting revision %s: %w", r.Name, err)
		}
		c.written.wrote(set, resourceRevisions, adopted.ResourceVersion)
	}
	return nil
}
