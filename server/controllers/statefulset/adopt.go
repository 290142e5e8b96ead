package statefulset

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

// adoptPatch makes set the controller of the object with uid (the uid
// precondition keeps it from landing on a recreated object of that name).
func adoptPatch(set *appsv1.StatefulSet, uid types.UID) ([]byte, error) {
	return json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":             uid,
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
	}})
}

// releasePatch removes set's owner reference from the object with uid.
func releasePatch(set *appsv1.StatefulSet, uid types.UID) ([]byte, error) {
	return json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":             uid,
		"ownerReferences": []map[string]string{{"$patch": "delete", "uid": string(set.UID)}},
	}})
}

// claimPods returns the pods set controls, after adopting orphans that
// match its selector and carry a member name, and releasing pods that no
// longer match. Returned pods are cache objects: copy before changing.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var owned []*corev1.Pod
	canAdopt := onceErr(func() error { return c.recheckSet(ctx, set) })
	pods := c.client.CoreV1().Pods(set.Namespace)
	for _, pod := range all {
		matches := selector.Matches(labels.Set(pod.Labels)) && isMember(set, pod)
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref != nil && ref.UID != set.UID:
			continue
		case ref != nil && matches:
			owned = append(owned, pod)
		case ref != nil:
			if set.DeletionTimestamp != nil {
				continue
			}
			patch, err := releasePatch(set, pod.UID)
			if err != nil {
				return nil, err
			}
			_, err = pods.Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
				return nil, fmt.Errorf("releasing pod %s: %w", pod.Name, err)
			}
		case matches && set.DeletionTimestamp == nil && pod.DeletionTimestamp == nil:
			if err := canAdopt(); err != nil {
				return nil, fmt.Errorf("can't adopt Pod %s/%s (%s): %w", pod.Namespace, pod.Name, pod.UID, err)
			}
			patch, err := adoptPatch(set, pod.UID)
			if err != nil {
				return nil, err
			}
			adopted, err := pods.Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("adopting pod %s: %w", pod.Name, err)
			}
			c.written.wrote(set, resourcePods, adopted.ResourceVersion)
			owned = append(owned, adopted)
		}
	}
	return owned, nil
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
	if err := c.recheckSet(ctx, set); err != nil {
		return fmt.Errorf("can't adopt ControllerRevisions: %w", err)
	}
	for _, r := range orphans {
		patch, err := adoptPatch(set, r.UID)
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

// onceErr runs check at most once and keeps answering with its result.
func onceErr(check func() error) func() error {
	done := false
	var err error
	return func() error {
		if !done {
			err, done = check(), true
		}
		return err
	}
}
