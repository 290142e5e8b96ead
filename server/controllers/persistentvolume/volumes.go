package persistentvolume

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// syncVolume keeps a volume's phase true to its claim: Available while
// free (or only reserved by a claimRef without UID), Bound while its
// claim holds it, Released (then reclaimed) once that claim is gone.
func (c *Controller) syncVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Free, or pre-bound by a user to a claim whose sync binds it.
		_, err := c.updateVolumePhase(ctx, volume, corev1.VolumeAvailable, "")
		return err
	}
	claim, err := c.claimOf(ctx, volume)
	if err != nil {
		return err
	}
	switch {
	case claim == nil:
		return c.release(ctx, volume)
	case claim.Spec.VolumeName == "":
		if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
			c.recorder.Eventf(volume, claim, corev1.EventTypeWarning, "VolumeMismatch", actionBinding,
				"Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", claim.Name)
			c.recorder.Eventf(claim, volume, corev1.EventTypeWarning, "VolumeMismatch", actionBinding,
				"Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", volume.Name)
			return nil
		}
		// The claim's half of the binding is missing: its sync writes it.
		c.claimQueue.Add(claimKey(claim))
		return nil
	case claim.Spec.VolumeName == volume.Name:
		_, err := c.updateVolumePhase(ctx, volume, corev1.VolumeBound, "")
		return err
	case metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned) &&
		volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Provisioned for a claim that got another volume: not needed.
		return c.release(ctx, volume)
	default:
		// The claim got another volume: give this one back.
		return c.unbindVolume(ctx, volume)
	}
}

// claimOf returns the claim the volume's claimRef names, or nil when that
// claim (with that UID) no longer exists. The cache may not have seen a
// claim just created by another binder, so absence is confirmed with the
// API server before a volume is released.
func (c *Controller) claimOf(ctx context.Context, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := volume.Spec.ClaimRef
	claim, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	released := volume.Status.Phase == corev1.VolumeReleased || volume.Status.Phase == corev1.VolumeFailed
	if (claim == nil && !released) || (claim != nil && claim.UID != ref.UID) {
		claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading claim %s/%s of volume %s: %w", ref.Namespace, ref.Name, volume.Name, err)
		}
	}
	if claim == nil || claim.UID != ref.UID {
		// A claim of that name made after the volume's claim was deleted.
		return nil, nil
	}
	return claim, nil
}

// release marks a volume whose claim is gone Released, once (a Failed
// volume stays Failed for the user to see), and applies its reclaim
// policy.
func (c *Controller) release(ctx context.Context, volume *corev1.PersistentVolume) error {
	if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
		updated, err := c.updateVolumePhase(ctx, volume, corev1.VolumeReleased, "")
		if err != nil {
			return err
		}
		volume = updated
		c.log.Info("volume released", "volume", volume.Name, "claim", volume.Spec.ClaimRef.Namespace+"/"+volume.Spec.ClaimRef.Name,
			"reclaimPolicy", volume.Spec.PersistentVolumeReclaimPolicy)
		if volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
			c.recorder.Eventf(volume, nil, corev1.EventTypeWarning, "VolumeFailedRecycle", actionReclaim,
				"Recycle reclaim policy is deprecated and not supported: the volume is retained; "+
					"clean it and remove its claimRef to make it Available again")
		}
	}
	switch volume.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimRecycle:
		return nil
	case corev1.PersistentVolumeReclaimDelete:
		return c.deleteVolume(ctx, volume)
	default:
		_, err := c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning,
			"VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy")
		return err
	}
}

// deleteVolume deletes a released volume's object. Kite deletes no
// storage: the data of a hostPath or local volume stays where it is. A
// volume an external provisioner made is left to that provisioner, which
// deletes the storage and then the object.
func (c *Controller) deleteVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	if by := volume.Annotations[storagehelpers.AnnDynamicallyProvisioned]; by != "" && !strings.HasPrefix(by, "kubernetes.io/") {
		return nil
	}
	// Decide on the stored volume: it may have been bound again since
	// the cache's copy was made.
	fresh, err := c.client.CoreV1().PersistentVolumes().Get(ctx, volume.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading volume %s: %w", volume.Name, err)
	}
	if fresh.DeletionTimestamp != nil || !c.isReleased(fresh) {
		return nil
	}
	err = c.client.CoreV1().PersistentVolumes().Delete(ctx, fresh.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("deleting released volume %s: %w", fresh.Name, err)
	}
	c.log.Info("deleted released volume", "volume", fresh.Name)
	return nil
}

// isReleased tells whether the volume's claim is gone, or has been bound
// to another volume.
func (c *Controller) isReleased(volume *corev1.PersistentVolume) bool {
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		return false
	}
	claim, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	switch {
	case apierrors.IsNotFound(err):
		return true
	case err != nil:
		return false
	case claim.UID != ref.UID:
		return true // a new claim of the same name
	}
	return claim.Spec.VolumeName != "" && claim.Spec.VolumeName != volume.Name
}

// unbindVolume frees a volume whose claim is bound to another one. A
// binding the controller made is undone entirely; a user's pre-binding
// keeps its claim name and loses only the UID.
func (c *Controller) unbindVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	clone := volume.DeepCopy()
	if metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnBoundByController) {
		clone.Spec.ClaimRef = nil
		delete(clone.Annotations, storagehelpers.AnnBoundByController)
		if len(clone.Annotations) == 0 {
			clone.Annotations = nil
		}
	} else {
		clone.Spec.ClaimRef.UID = ""
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("unbinding volume %s: %w", volume.Name, err)
	}
	c.writtenVolumes.record(updated.Name, updated.ResourceVersion)
	c.log.Info("unbound volume from a claim bound elsewhere", "volume", volume.Name)
	_, err = c.updateVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
	return err
}
