package daemonset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// ownership is what adopting and releasing needs to know of a DaemonSet.
// Adoption first checks, once, that the set is not being deleted.
type ownership struct {
	ds       *appsv1.DaemonSet
	selector labels.Selector
	recheck  func() error
}

func (c *Controller) ownershipOf(ctx context.Context, ds *appsv1.DaemonSet) (*ownership, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	checked := false
	var checkErr error
	return &ownership{ds: ds, selector: selector, recheck: func() error {
		if !checked {
			checked, checkErr = true, c.recheckSet(ctx, ds)
		}
		return checkErr
	}}, nil
}

// claim decides whether ds controls obj, adopting a matching orphan or
// releasing an owned object that no longer matches. patch sends a
// strategic merge patch to obj.
func (o *ownership) claim(obj metav1.Object, patch func([]byte) error) (bool, error) {
	matches := o.selector.Matches(labels.Set(obj.GetLabels()))
	ref := metav1.GetControllerOfNoCopy(obj)
	switch {
	case ref != nil && ref.UID != o.ds.UID:
		return false, nil
	case ref != nil && matches:
		return true, nil
	case ref != nil:
		if o.ds.DeletionTimestamp != nil {
			return false, nil
		}
		body, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"uid":             obj.GetUID(),
			"ownerReferences": []map[string]string{{"$patch": "delete", "uid": string(o.ds.UID)}},
		}})
		if err := patch(body); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			return false, err
		}
		return false, nil
	case !matches || o.ds.DeletionTimestamp != nil || obj.GetDeletionTimestamp() != nil:
		return false, nil
	}
	if err := o.recheck(); err != nil {
		return false, fmt.Errorf("can't adopt %s: %w", obj.GetName(), err)
	}
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":             obj.GetUID(),
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(o.ds, controllerKind)},
	}})
	if err := patch(body); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// claimPods returns the pods ds controls, adopting and releasing as its
// selector says. Returned pods are cache objects: copy before changing.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	own, err := c.ownershipOf(ctx, ds)
	if err != nil {
		return nil, err
	}
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var owned []*corev1.Pod
	for _, pod := range all {
		ok, err := own.claim(pod, func(body []byte) error {
			_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return nil, err
		}
		if ok {
			owned = append(owned, pod)
		}
	}
	return owned, nil
}

// controlledRevisions returns the ControllerRevisions ds controls,
// adopting and releasing as its selector says.
func (c *Controller) controlledRevisions(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	own, err := c.ownershipOf(ctx, ds)
	if err != nil {
		return nil, err
	}
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var owned []*appsv1.ControllerRevision
	for _, r := range all {
		ok, err := own.claim(r, func(body []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(r.Namespace).Patch(ctx, r.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return nil, err
		}
		if ok {
			owned = append(owned, r)
		}
	}
	return owned, nil
}

// recheckSet reads ds from the API server: adoption must not happen for a
// set being deleted or replaced by another of its name.
func (c *Controller) recheckSet(ctx context.Context, ds *appsv1.DaemonSet) error {
	fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if fresh.UID != ds.UID {
		return fmt.Errorf("original DaemonSet %s/%s is gone: got uid %s, wanted %s", ds.Namespace, ds.Name, fresh.UID, ds.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%s/%s has just been deleted at %v", ds.Namespace, ds.Name, fresh.DeletionTimestamp)
	}
	return nil
}
