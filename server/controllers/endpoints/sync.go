//lint:file-ignore SA1019 core/v1 Endpoints are deprecated in favour of EndpointSlices, but clients still read them and this controller is what writes them.

package endpoints

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"kite/server/controllers"
	"kite/server/controllers/endpoints/backends"
)

// staleRetry is how soon a sync that found the cache behind its own last
// write looks again; the cache normally catches up within milliseconds.
const staleRetry = 100 * time.Millisecond

// sync makes the Endpoints named like the Service with the given key list
// the pods the Service selects now.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller queued
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its Endpoints, whoever wrote them.
		c.triggers.Forget(key)
		c.stale.forget(key)
		return c.delete(ctx, namespace, name, nil)
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		// Endpoints of a Service without a selector are the user's to
		// write. Those this controller wrote while the Service still had
		// a selector would only point at pods it no longer selects.
		c.triggers.Forget(key)
		if cur, err := c.endpoints.Endpoints(namespace).Get(name); err == nil && managed(cur) {
			return c.delete(ctx, namespace, name, &cur.UID)
		}
		return nil
	}

	pods, err := c.pods.Pods(namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	want := desiredSubsets(svc, pods)
	overCapacity := truncate(want)
	wantLabels := endpointsLabels(svc)

	cur, err := c.endpoints.Endpoints(namespace).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		cur = nil
	case err != nil:
		return err
	case c.stale.isStale(key, cur.ResourceVersion):
		// The cache has not seen this controller's last write yet.
		return controllers.RetryAfter(staleRetry)
	}
	// Published once this sync succeeds, written or not, so the next
	// change is measured from what is published now.
	triggered, published := c.triggers.Observe(key, svc, pods)
	if cur != nil && apiequality.Semantic.DeepEqual(cur.Subsets, want) && maps.Equal(cur.Labels, wantLabels) &&
		(cur.Annotations[corev1.EndpointsOverCapacity] == overCapacityValue) == overCapacity {
		published()
		return nil
	}

	next := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if cur != nil {
		next = cur.DeepCopy()
	}
	next.Subsets = want
	next.Labels = wantLabels
	next.Annotations = backends.SetTriggerTime(next.Annotations, triggered)
	if overCapacity {
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[corev1.EndpointsOverCapacity] = overCapacityValue
	} else {
		delete(next.Annotations, corev1.EndpointsOverCapacity)
	}

	if cur == nil {
		_, err = c.client.CoreV1().Endpoints(namespace).Create(ctx, next, metav1.CreateOptions{})
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // nothing more can be created there
		}
		if apierrors.IsAlreadyExists(err) {
			return controllers.RetryAfter(staleRetry) // the cache has yet to see them
		}
		if err != nil {
			c.recorder.Eventf(next, nil, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Create",
				"Failed to create endpoint for service %v/%v: %v", namespace, name, err)
			return fmt.Errorf("creating endpoints: %w", err)
		}
		published()
		return nil
	}
	updated, err := c.client.CoreV1().Endpoints(namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		c.recorder.Eventf(next, nil, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Update",
			"Failed to update endpoint %v/%v: %v", namespace, name, err)
		return fmt.Errorf("updating endpoints: %w", err)
	}
	if updated.ResourceVersion != cur.ResourceVersion {
		c.stale.replace(key, cur.ResourceVersion)
	}
	published()
	return nil
}

// delete removes the Endpoints (only the one with the given UID, when
// set, so a newer object of the same name survives).
func (c *Controller) delete(ctx context.Context, namespace, name string, uid *types.UID) error {
	opts := metav1.DeleteOptions{}
	if uid != nil {
		opts.Preconditions = &metav1.Preconditions{UID: uid}
	}
	err := c.client.CoreV1().Endpoints(namespace).Delete(ctx, name, opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting endpoints: %w", err)
	}
	return nil
}

// endpointsLabels are the Service's labels, with the headless marker set
// when it has no cluster IP and this controller's mark.
func endpointsLabels(svc *corev1.Service) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	if backends.Headless(svc) {
		l[corev1.IsHeadlessService] = ""
	} else {
		delete(l, corev1.IsHeadlessService)
	}
	l[LabelManagedBy] = ControllerName
	return l
}
