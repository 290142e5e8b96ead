package persistentvolume

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"kite/server/controllers"
)

// Event actions (events.k8s.io wants one; upstream's core events had none).
const (
	actionBinding      = "Binding"
	actionProvisioning = "Provisioning"
	actionReclaim      = "Reclaim"
)

// syncClaim moves a claim towards Bound: an unbound one (no
// bind-completed annotation) to a volume, a bound one checked against
// its volume.
func (c *Controller) syncClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return c.syncUnboundClaim(ctx, claim)
	}
	return c.syncBoundClaim(ctx, claim)
}

func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" {
		return c.syncNamedVolumeClaim(ctx, claim)
	}
	delayBinding, err := c.delayBinding(claim)
	if err != nil {
		return err
	}
	volumes, err := c.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	volume, err := bestMatch(claim, volumes, delayBinding)
	if err != nil {
		return fmt.Errorf("matching claim %s: %w", claimKey(claim), err)
	}
	if volume != nil {
		return c.bind(ctx, volume, claim)
	}
	switch {
	case delayBinding:
		if err := c.reportWaitingForConsumer(claim); err != nil {
			return err
		}
	case storagehelpers.GetPersistentVolumeClaimClass(claim) != "":
		return c.provisionClaim(ctx, claim)
	default:
		c.recorder.Eventf(claim, nil, corev1.EventTypeNormal, "FailedBinding", actionBinding,
			"no persistent volumes available for this claim and no storage class is set")
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// syncNamedVolumeClaim binds a claim to the volume its spec names, when
// that volume is free (or already claimed for it) and fits.
func (c *Controller) syncNamedVolumeClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	volume, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		// It may be created later; the volume's add queues the claims.
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case volume.Spec.ClaimRef == nil:
		if err := checkSatisfies(volume, claim); err != nil {
			c.recorder.Eventf(claim, volume, corev1.EventTypeWarning, "VolumeMismatch", actionBinding,
				"Cannot bind to requested volume %q: %s", volume.Name, err)
			_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
			return err
		}
		return c.bind(ctx, volume, claim)
	case storagehelpers.IsVolumeBoundToClaim(volume, claim):
		return c.bind(ctx, volume, claim)
	default:
		c.recorder.Eventf(claim, volume, corev1.EventTypeWarning, "FailedBinding", actionBinding,
			"volume %q already bound to a different claim.", volume.Name)
		if metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController) {
			// Only a user removing the bind-completed annotation gets
			// here: the controller chose this volume, someone else has it.
			return fmt.Errorf("claim %s is bound to volume %s, which is claimed by %s/%s",
				claimKey(claim), volume.Name, volume.Spec.ClaimRef.Namespace, volume.Spec.ClaimRef.Name)
		}
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
}

// syncBoundClaim checks a claim bound before: its volume must still exist
// and point back at it; a missing link on the volume side is restored.
func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		return c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, corev1.EventTypeWarning, "ClaimLost",
			"Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
	}
	volume, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, corev1.EventTypeWarning, "ClaimLost",
			"Bound claim has lost its PersistentVolume. Data on the volume is lost!")
	}
	if err != nil {
		return err
	}
	if volume.Spec.ClaimRef == nil || volume.Spec.ClaimRef.UID == claim.UID {
		// Unbound volume: the volume lost its claimRef, or the cache has
		// not seen it yet; either way binding again is right.
		return c.bind(ctx, volume, claim)
	}
	return c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, corev1.EventTypeWarning, "ClaimMisbound",
		"Two claims are bound to the same volume, this one is bound incorrectly")
}

// delayBinding tells whether the claim's class binds only once a pod uses
// the claim (WaitForFirstConsumer) and the scheduler has not yet picked a
// node for it.
func (c *Controller) delayBinding(claim *corev1.PersistentVolumeClaim) (bool, error) {
	if storagehelpers.IsDelayBindingProvisioning(claim) {
		return false, nil
	}
	delay, err := storagehelpers.IsDelayBindingMode(claim, c.classes)
	if err != nil {
		return false, fmt.Errorf("binding mode of claim %s: %w", claimKey(claim), err)
	}
	return delay, nil
}

// reportWaitingForConsumer records why a WaitForFirstConsumer claim is
// still unbound: no pod uses it yet, or its pods are not scheduled.
func (c *Controller) reportWaitingForConsumer(claim *corev1.PersistentVolumeClaim) error {
	pods, err := c.pods.Pods(claim.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	var waiting []string
	for _, pod := range pods {
		if pod.Spec.NodeName == "" && !controllers.IsPodTerminal(pod) && usesClaim(pod, claim.Name) {
			waiting = append(waiting, pod.Name)
		}
	}
	switch len(waiting) {
	case 0:
		c.recorder.Eventf(claim, nil, corev1.EventTypeNormal, "WaitForFirstConsumer", actionBinding,
			"waiting for first consumer to be created before binding")
	case 1:
		c.recorder.Eventf(claim, nil, corev1.EventTypeNormal, "WaitForPodScheduled", actionBinding,
			"waiting for pod %s to be scheduled", waiting[0])
	default:
		c.recorder.Eventf(claim, nil, corev1.EventTypeNormal, "WaitForPodScheduled", actionBinding,
			"waiting for pods %s to be scheduled", strings.Join(waiting, ","))
	}
	return nil
}

// usesClaim tells whether the pod mounts the claim, named or as the
// claim of one of its ephemeral volumes.
func usesClaim(pod *corev1.Pod, claim string) bool {
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim:
			return true
		case v.Ephemeral != nil && pod.Name+"-"+v.Name == claim:
			return true
		}
	}
	return false
}

// provisionClaim hands a claim of a storage class that no existing
// volume fits to the class's provisioner. Kite has none of upstream's
// in-tree ("kubernetes.io/...") provisioners; an external one recognises
// its claims by the storage-provisioner annotations.
func (c *Controller) provisionClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	class, err := c.classes.Get(storagehelpers.GetPersistentVolumeClaimClass(claim))
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		// Retried at every resync, as upstream: the class may appear.
		c.recorder.Eventf(claim, nil, corev1.EventTypeWarning, "ProvisioningFailed", actionProvisioning, "%s", err.Error())
		return nil
	}
	if strings.HasPrefix(class.Provisioner, "kubernetes.io/") {
		c.recorder.Eventf(claim, nil, corev1.EventTypeWarning, "ProvisioningFailed", actionProvisioning,
			"no provisionable volume plugin matched")
		return nil
	}
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] != class.Provisioner {
		clone := claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, class.Provisioner)
		metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnStorageProvisioner, class.Provisioner)
		updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("marking claim %s for provisioner %s: %w", claimKey(claim), class.Provisioner, err)
		}
		c.writtenClaims.record(claimKey(updated), updated.ResourceVersion)
		claim = updated
	}
	c.recorder.Eventf(claim, nil, corev1.EventTypeNormal, "ExternalProvisioning", actionProvisioning,
		"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. "+
			"If volume creation is delayed, please verify that the provisioner is running and correctly registered.", class.Provisioner)
	return nil
}
