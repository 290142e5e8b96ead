package statefulset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// claimsFor builds the PVCs of pod's ordinal from set's claim templates,
// keyed by template (and volume) name. They carry the set's selector
// labels so they can be found again.
func claimsFor(set *appsv1.StatefulSet, pod *corev1.Pod) map[string]*corev1.PersistentVolumeClaim {
	ord := ordinalOf(pod)
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		claim := t.DeepCopy()
		claim.Name = claimName(set, t, ord)
		claim.Namespace = set.Namespace
		if claim.Labels == nil {
			claim.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				claim.Labels[k] = v
			}
		}
		claims[t.Name] = claim
	}
	return claims
}

// createClaims creates pod's missing PVCs. A claim that is being deleted
// blocks the pod until it is gone (the pod must not start on a volume
// about to disappear).
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, claim := range claimsFor(set, pod) {
		existing, err := c.claims.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			created, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, claim, metav1.CreateOptions{})
			switch {
			case err == nil:
				c.written.wrote(set, resourceClaims, created.ResourceVersion)
				c.claimEvent("create", set, pod, created, nil)
			case apierrors.IsAlreadyExists(err):
				errs = append(errs, fmt.Errorf("failed to create PVC %s: %w", claim.Name, err))
			default:
				errs = append(errs, fmt.Errorf("failed to create PVC %s: %w", claim.Name, err))
				c.claimEvent("create", set, pod, claim, err)
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("failed to retrieve PVC %s: %w", claim.Name, err))
			c.claimEvent("create", set, pod, claim, err)
		case existing.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("pvc %s is being deleted", claim.Name))
		}
	}
	return errors.Join(errs...)
}

// retentionPolicy is set's PVC retention policy, Retain for both cases by
// default.
func retentionPolicy(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		return *p
	}
	return appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
}

const deletePolicy = appsv1.DeletePersistentVolumeClaimRetentionPolicyType

// refersTo tells whether ref names obj of kind gvk (whatever the UID).
func refersTo(ref *metav1.OwnerReference, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	return ref.APIVersion == gvk.GroupVersion().String() && ref.Kind == gvk.Kind && ref.Name == obj.GetName()
}

// staleRef tells whether claim refers to an earlier object of obj's name
// (a previous set or pod): such claims are left alone.
func staleRef(claim *corev1.PersistentVolumeClaim, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	for i := range claim.OwnerReferences {
		if refersTo(&claim.OwnerReferences[i], obj, gvk) {
			return claim.OwnerReferences[i].UID != obj.GetUID()
		}
	}
	return false
}

// desiredClaimOwners computes the owner references the retention policy
// asks for on claim: the set owns claims deleted with the set, the pod
// owns claims of scaled-down ordinals deleted on scale-down. It returns
// ok=false when the claim must be left as it is.
func desiredClaimOwners(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) (refs []metav1.OwnerReference, conflict, ok bool) {
	if staleRef(claim, set, controllerKind) || staleRef(claim, pod, podKind) {
		return nil, false, false
	}
	policy := retentionPolicy(set)
	retainAll := policy.WhenDeleted != deletePolicy && policy.WhenScaled != deletePolicy
	for _, ref := range claim.OwnerReferences {
		ours := refersTo(&ref, set, controllerKind) || refersTo(&ref, pod, podKind)
		if ours {
			continue
		}
		if !retainAll && ref.Controller != nil && *ref.Controller {
			// Another controller manages the claim: only drop our refs.
			conflict = true
		}
		refs = append(refs, ref)
	}
	if conflict || retainAll {
		return refs, conflict, true
	}
	scaledDown := !inOrdinalRange(pod, set)
	if policy.WhenScaled == deletePolicy && scaledDown {
		refs = append(refs, *metav1.NewControllerRef(pod, podKind))
	}
	if policy.WhenDeleted == deletePolicy && (!scaledDown || policy.WhenScaled != deletePolicy) {
		refs = append(refs, *metav1.NewControllerRef(set, controllerKind))
	}
	return refs, false, true
}

// sameOwners compares owner references by UID and controller flag,
// ignoring order.
func sameOwners(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(r metav1.OwnerReference) string {
		return fmt.Sprintf("%s/%t", r.UID, r.Controller != nil && *r.Controller)
	}
	count := map[string]int{}
	for _, r := range a {
		count[key(r)]++
	}
	for _, r := range b {
		count[key(r)]--
		if count[key(r)] < 0 {
			return false
		}
	}
	return true
}

// claimsMatchPolicy tells whether pod's existing claims carry the owner
// references set's retention policy asks for.
func (c *Controller) claimsMatchPolicy(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	for _, want := range claimsFor(set, pod) {
		claim, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			continue // created later
		}
		if err != nil {
			return false, err
		}
		refs, _, ok := desiredClaimOwners(claim, set, pod)
		if ok && !sameOwners(refs, claim.OwnerReferences) {
			return false, nil
		}
	}
	return true, nil
}

// applyRetentionPolicy rewrites the owner references of pod's claims to
// what set's retention policy asks for.
func (c *Controller) applyRetentionPolicy(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	for _, want := range claimsFor(set, pod) {
		claim, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		refs, conflict, ok := desiredClaimOwners(claim, set, pod)
		if conflict {
			c.recorder.Eventf(set, nil, corev1.EventTypeWarning, "ConflictingController", "Update",
				"PersistentVolumeClaim %s has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim", claim.Name)
		}
		if !ok || sameOwners(refs, claim.OwnerReferences) {
			continue
		}
		claim = claim.DeepCopy()
		claim.OwnerReferences = refs
		updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("could not update claim %s for delete policy ownerRefs: %w", claim.Name, err)
		}
		c.written.wrote(set, resourceClaims, updated.ResourceVersion)
	}
	return nil
}

// claimIsStale tells whether a claim of pod's ordinal still belongs to an
// earlier pod of that name under a delete-on-scale-down policy: the new
// pod waits until the garbage collector removes it.
func (c *Controller) claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	if retentionPolicy(set).WhenScaled != deletePolicy {
		return false, nil
	}
	for _, want := range claimsFor(set, pod) {
		claim, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if staleRef(claim, pod, podKind) {
			return true, nil
		}
	}
	return false, nil
}
