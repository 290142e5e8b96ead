package daemonset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kite/server/controllers"
)

// claimer returns what adopts and releases for ds in one sync.
func (c *Controller) claimer(ds *appsv1.DaemonSet) (*controllers.Claimer, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	return controllers.NewClaimer(ds, controllerKind, selector, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	}), nil
}

// claimPods returns the pods ds controls, adopting and releasing as its
// selector says. Returned pods may be the cache's: copy before changing.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	claimer, err := c.claimer(ds)
	if err != nil {
		return nil, err
	}
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controllers.ClaimPods(ctx, claimer, c.client, all)
}

// controlledRevisions returns the ControllerRevisions ds controls,
// adopting and releasing as its selector says.
func (c *Controller) controlledRevisions(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	claimer, err := c.claimer(ds)
	if err != nil {
		return nil, err
	}
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controllers.ClaimControllerRevisions(ctx, claimer, c.client, all)
}
