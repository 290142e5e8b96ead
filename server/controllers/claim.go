package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Claimer decides, for one owner (a ReplicaSet, a Deployment, a Job, ...),
// which objects it controls through their controller ownerReference, the
// way upstream's ControllerRefManager does: an object it controls and
// still wants is kept; one it controls but no longer wants is released; a
// matching orphan is adopted, unless the owner or the orphan is being
// deleted. A Claimer serves one sync.
type Claimer struct {
	owner      metav1.Object
	ownerKind  schema.GroupVersionKind
	selector   labels.Selector
	filter     func(metav1.Object) bool
	finalizers []string
	fresh      func(context.Context) (metav1.Object, error)

	recheck    sync.Once
	recheckErr error
}

// NewClaimer returns the Claimer of owner, which wants the objects its
// selector matches. fresh reads owner from the API server, past the
// cache: before its first adoption the Claimer checks that owner still
// exists as the same object and is not being deleted (the cache may lag).
func NewClaimer(owner metav1.Object, ownerKind schema.GroupVersionKind, selector labels.Selector, fresh func(context.Context) (metav1.Object, error)) *Claimer {
	return &Claimer{owner: owner, ownerKind: ownerKind, selector: selector, fresh: fresh}
}

// Filter makes the owner want only the matching objects that keep also
// accepts.
func (c *Claimer) Filter(keep func(metav1.Object) bool) *Claimer {
	c.filter = keep
	return c
}

// AddFinalizers makes adoption add finalizers to the adopted objects,
// and release take them away again.
func (c *Claimer) AddFinalizers(finalizers ...string) *Claimer {
	c.finalizers = finalizers
	return c
}

func (c *Claimer) wants(obj metav1.Object) bool {
	return c.selector.Matches(labels.Set(obj.GetLabels())) && (c.filter == nil || c.filter(obj))
}

// CanAdopt checks, once per Claimer, that the owner may adopt: it still
// exists with its UID and is not being deleted.
func (c *Claimer) CanAdopt(ctx context.Context) error {
	c.recheck.Do(func() {
		fresh, err := c.fresh(ctx)
		if err == nil && fresh.GetUID() != c.owner.GetUID() {
			err = fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s",
				c.ownerKind.Kind, c.owner.GetNamespace(), c.owner.GetName(), fresh.GetUID(), c.owner.GetUID())
		}
		switch {
		case err != nil:
			c.recheckErr = fmt.Errorf("can't recheck DeletionTimestamp: %w", err)
		case fresh.GetDeletionTimestamp() != nil:
			c.recheckErr = fmt.Errorf("%s/%s has just been deleted at %s", fresh.GetNamespace(), fresh.GetName(), fresh.GetDeletionTimestamp())
		}
	})
	return c.recheckErr
}

// AdoptPatch is the strategic merge patch making the owner the
// controller of the object with uid (and adding the Claimer's
// finalizers). The UID is a precondition: the patch never lands on a
// namesake created since the object was looked at.
func (c *Claimer) AdoptPatch(uid types.UID) ([]byte, error) {
	type meta struct {
		UID             types.UID               `json:"uid"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		Finalizers      []string                `json:"finalizers,omitempty"`
	}
	return json.Marshal(struct {
		Metadata meta `json:"metadata"`
	}{meta{UID: uid, OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(c.owner, c.ownerKind)}, Finalizers: c.finalizers}})
}

// releasePatch takes the owner's reference (and the Claimer's
// finalizers) away from the object with uid.
func (c *Claimer) releasePatch(uid types.UID) ([]byte, error) {
	type meta struct {
		UID              types.UID           `json:"uid"`
		OwnerReferences  []map[string]string `json:"ownerReferences"`
		DeleteFinalizers []string            `json:"$deleteFromPrimitiveList/finalizers,omitempty"`
	}
	return json.Marshal(struct {
		Metadata meta `json:"metadata"`
	}{meta{UID: uid, OwnerReferences: []map[string]string{{"$patch": "delete", "uid": string(c.owner.GetUID())}}, DeleteFinalizers: c.finalizers}})
}

// PatchFunc sends a strategic merge patch to obj and returns the result.
type PatchFunc[T metav1.Object] func(ctx context.Context, obj T, patch []byte) (T, error)

// Claim returns those of objs (all of them objects of kind, in the
// owner's namespace) that the owner controls once it has adopted and
// released as it should; an adopted object is returned as patch left it.
// Errors do not stop the other objects from being claimed: they are
// returned together, for the owner's sync to retry.
func Claim[T metav1.Object](ctx context.Context, c *Claimer, kind string, objs []T, patch PatchFunc[T]) ([]T, error) {
	var claimed []T
	var errs []error
	for _, obj := range objs {
		got, ok, err := claimOne(ctx, c, kind, obj, patch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, got)
		}
	}
	return claimed, errors.Join(errs...)
}

func claimOne[T metav1.Object](ctx context.Context, c *Claimer, kind string, obj T, patch PatchFunc[T]) (T, bool, error) {
	ref := metav1.GetControllerOfNoCopy(obj)
	switch {
	case ref != nil && ref.UID != c.owner.GetUID():
		return obj, false, nil // someone else's
	case ref != nil && c.wants(obj):
		return obj, true, nil
	case ref != nil:
		if c.owner.GetDeletionTimestamp() != nil {
			return obj, false, nil // an owner being deleted leaves its objects be
		}
		data, err := c.releasePatch(obj.GetUID())
		if err != nil {
			return obj, false, err
		}
		// Gone, or changed under us (another UID, no reference left):
		// nothing to release.
		if _, err := patch(ctx, obj, data); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			return obj, false, err
		}
		return obj, false, nil
	case c.owner.GetDeletionTimestamp() != nil || !c.wants(obj) || obj.GetDeletionTimestamp() != nil ||
		obj.GetNamespace() != c.owner.GetNamespace():
		return obj, false, nil
	}
	if err := c.CanAdopt(ctx); err != nil {
		return obj, false, fmt.Errorf("can't adopt %s %s/%s (%s): %w", kind, obj.GetNamespace(), obj.GetName(), obj.GetUID(), err)
	}
	data, err := c.AdoptPatch(obj.GetUID())
	if err != nil {
		return obj, false, err
	}
	adopted, err := patch(ctx, obj, data)
	if apierrors.IsNotFound(err) {
		return obj, false, nil
	}
	if err != nil {
		return obj, false, err
	}
	return adopted, true, nil
}

// ClaimPods claims pods through client.
func ClaimPods(ctx context.Context, c *Claimer, client kubernetes.Interface, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	return Claim(ctx, c, "Pod", pods, func(ctx context.Context, pod *corev1.Pod, patch []byte) (*corev1.Pod, error) {
		return client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	})
}

// ClaimReplicaSets claims ReplicaSets through client.
func ClaimReplicaSets(ctx context.Context, c *Claimer, client kubernetes.Interface, rss []*appsv1.ReplicaSet) ([]*appsv1.ReplicaSet, error) {
	return Claim(ctx, c, "ReplicaSet", rss, func(ctx context.Context, rs *appsv1.ReplicaSet, patch []byte) (*appsv1.ReplicaSet, error) {
		return client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	})
}

// ClaimControllerRevisions claims ControllerRevisions through client.
func ClaimControllerRevisions(ctx context.Context, c *Claimer, client kubernetes.Interface, revisions []*appsv1.ControllerRevision) ([]*appsv1.ControllerRevision, error) {
	return Claim(ctx, c, "ControllerRevision", revisions, func(ctx context.Context, r *appsv1.ControllerRevision, patch []byte) (*appsv1.ControllerRevision, error) {
		return client.AppsV1().ControllerRevisions(r.Namespace).Patch(ctx, r.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	})
}
