package persistentvolume

import (
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// bind binds volume and claim to each other, in upstream's order: the
// volume's claimRef, the volume's phase, the claim's volumeName, the
// claim's phase. Each step writes only what is not so already, so bind
// finishes a binding that an earlier sync (or another process) began and
// does nothing to a complete one. A failed step leaves what the next sync
// of either object picks up.
func (c *Controller) bind(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	volume, err := c.bindVolumeToClaim(ctx, volume, claim)
	if err != nil {
		return err
	}
	if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeBound, ""); err != nil {
		return err
	}
	if claim, err = c.bindClaimToVolume(ctx, claim, volume); err != nil {
		return err
	}
	if _, err = c.updateClaimStatus(ctx, claim, corev1.ClaimBound, volume); err != nil {
		return err
	}
	return nil
}

// bindVolumeToClaim sets the volume's claimRef to the claim (marked
// bound-by-controller unless the volume was pre-bound to it).
func (c *Controller) bindVolumeToClaim(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	bound, dirty, err := storagehelpers.GetBindVolumeToClaim(volume, claim)
	if err != nil || !dirty {
		return volume, err
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, bound, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("binding volume %s to claim %s: %w", volume.Name, claimKey(claim), err)
	}
	c.writtenVolumes.record(updated.Name, updated.ResourceVersion)
	c.log.Info("bound volume to claim", "volume", volume.Name, "claim", claimKey(claim))
	return updated, nil
}

// bindClaimToVolume sets the claim's volumeName (marked
// bound-by-controller when the claim did not name the volume) and marks
// the binding complete.
func (c *Controller) bindClaimToVolume(ctx context.Context, claim *corev1.PersistentVolumeClaim, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	clone := claim.DeepCopy()
	dirty := false
	if clone.Spec.VolumeName != volume.Name {
		clone.Spec.VolumeName = volume.Name
		if !metav1.HasAnnotation(clone.ObjectMeta, storagehelpers.AnnBoundByController) {
			metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
		}
		dirty = true
	}
	if !metav1.HasAnnotation(clone.ObjectMeta, storagehelpers.AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
		dirty = true
	}
	if !dirty {
		return claim, nil
	}
	updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("binding claim %s to volume %s: %w", claimKey(claim), volume.Name, err)
	}
	c.writtenClaims.record(claimKey(updated), updated.ResourceVersion)
	return updated, nil
}

// updateClaimStatus sets the claim's phase and, from the volume it is
// bound to (none: cleared), its access modes and capacity. The capacity
// is copied only when the claim becomes Bound: a later difference may be
// a resize in progress.
func (c *Controller) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	clone := claim.DeepCopy()
	clone.Status.Phase = phase
	if volume == nil {
		clone.Status.AccessModes, clone.Status.Capacity = nil, nil
	} else {
		clone.Status.AccessModes = volume.Spec.AccessModes
		if claim.Status.Phase != phase {
			capacity, ok := volume.Spec.Capacity[corev1.ResourceStorage]
			if !ok {
				return nil, fmt.Errorf("volume %s has no storage capacity", volume.Name)
			}
			if current, ok := claim.Status.Capacity[corev1.ResourceStorage]; !ok || current.Cmp(capacity) != 0 {
				clone.Status.Capacity = volume.Spec.Capacity
			}
		}
	}
	if reflect.DeepEqual(clone.Status, claim.Status) {
		return claim, nil
	}
	updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting claim %s phase %s: %w", claimKey(claim), phase, err)
	}
	c.writtenClaims.record(claimKey(updated), updated.ResourceVersion)
	return updated, nil
}

// updateClaimStatusWithEvent sets the claim's phase and, if it changed,
// records an event about it.
func (c *Controller) updateClaimStatusWithEvent(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, eventType, reason, note string) error {
	if claim.Status.Phase == phase {
		return nil
	}
	updated, err := c.updateClaimStatus(ctx, claim, phase, nil)
	if err != nil {
		return err
	}
	c.recorder.Eventf(updated, nil, eventType, reason, actionBinding, "%s", note)
	return nil
}

// updateVolumePhase sets the volume's phase and message; the API server
// stamps the transition time.
func (c *Controller) updateVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	clone := volume.DeepCopy()
	clone.Status.Phase = phase
	clone.Status.Message = message
	updated, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting volume %s phase %s: %w", volume.Name, phase, err)
	}
	c.writtenVolumes.record(updated.Name, updated.ResourceVersion)
	return updated, nil
}

// updateVolumePhaseWithEvent sets the volume's phase and, if it changed,
// records an event about it.
func (c *Controller) updateVolumePhaseWithEvent(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, eventType, reason, note string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	updated, err := c.updateVolumePhase(ctx, volume, phase, note)
	if err != nil {
		return nil, err
	}
	c.recorder.Eventf(updated, nil, eventType, reason, actionReclaim, "%s", note)
	return updated, nil
}
