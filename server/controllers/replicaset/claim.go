package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// claimPods returns the pods rs controls after adopting the matching
// orphans and releasing the owned pods that no longer match its selector.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var claimed []*corev1.Pod
	var errs []error
	// Whether rs may adopt is asked of the API server once, and only if
	// there is an orphan to adopt: the cached rs may be stale.
	var adoptErr error
	adoptChecked := false
	for _, pod := range pods {
		matches := selector.Matches(labels.Set(pod.Labels))
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref != nil && ref.UID != rs.UID:
			continue // someone else's
		case ref != nil && matches:
			claimed = append(claimed, pod)
		case ref != nil:
			if rs.DeletionTimestamp != nil {
				continue // a ReplicaSet being deleted leaves its pods be
			}
			if err := c.releasePod(ctx, rs, pod); err != nil {
				errs = append(errs, err)
			}
		default:
			if !matches || rs.DeletionTimestamp != nil || pod.DeletionTimestamp != nil || pod.Namespace != rs.Namespace {
				continue
			}
			if !adoptChecked {
				adoptErr, adoptChecked = c.canAdopt(ctx, rs), true
			}
			if adoptErr != nil {
				errs = append(errs, fmt.Errorf("can't adopt Pod %s/%s (%s): %w", pod.Namespace, pod.Name, pod.UID, adoptErr))
				continue
			}
			err := c.adoptPod(ctx, rs, pod)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			claimed = append(claimed, pod)
		}
	}
	return claimed, errors.Join(errs...)
}

// canAdopt checks with the API server that rs still exists as the same
// object and is not being deleted.
func (c *Controller) canAdopt(ctx context.Context, rs *appsv1.ReplicaSet) error {
	fresh, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("can't recheck DeletionTimestamp: %w", err)
	}
	if fresh.UID != rs.UID {
		return fmt.Errorf("original ReplicaSet %s/%s is gone: got uid %s, wanted %s", rs.Namespace, rs.Name, fresh.UID, rs.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%s/%s has just been deleted at %s", rs.Namespace, rs.Name, fresh.DeletionTimestamp)
	}
	return nil
}

// ownerPatch is a strategic merge patch of an object's owner references;
// the object's UID makes it apply only to the object that was looked at.
type ownerPatch struct {
	Metadata struct {
		OwnerReferences []any     `json:"ownerReferences"`
		UID             types.UID `json:"uid"`
	} `json:"metadata"`
}

func (c *Controller) adoptPod(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	var p ownerPatch
	p.Metadata.UID = pod.UID
	p.Metadata.OwnerReferences = []any{metav1.NewControllerRef(rs, controllerKind)}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	return err
}

func (c *Controller) releasePod(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	var p ownerPatch
	p.Metadata.UID = pod.UID
	p.Metadata.OwnerReferences = []any{map[string]any{"$patch": "delete", "uid": rs.UID}}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		// Gone, or changed under us (another UID): nothing to release.
		return nil
	}
	return err
}
