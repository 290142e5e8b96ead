package volume

import (
	"context"
	"errors"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setupClaim mounts the PersistentVolume bound to a claim. hostPath
// volumes are used in place; local volumes are bind-mounted into the pod's
// directory, as the kubelet's local volume plugin does.
func (m *Manager) setupClaim(ctx context.Context, pod *v1.Pod, claimName string, readOnly, ephemeral bool) (mountedVolume, error) {
	pvc, err := m.src.PersistentVolumeClaim(ctx, pod.Namespace, claimName)
	if err != nil {
		return mountedVolume{}, fmt.Errorf("error processing PVC %s/%s: %w", pod.Namespace, claimName, err)
	}
	if ephemeral && !metav1.IsControlledBy(pvc, pod) {
		return mountedVolume{}, fmt.Errorf("PVC %s/%s was not created for pod %s/%s (pod is not owner)", pod.Namespace, claimName, pod.Namespace, pod.Name)
	}
	if pvc.Status.Phase != v1.ClaimBound || pvc.Spec.VolumeName == "" {
		return mountedVolume{}, fmt.Errorf("PVC %s/%s has non-bound phase (%q) or empty pvc.Spec.VolumeName (%q)",
			pod.Namespace, claimName, pvc.Status.Phase, pvc.Spec.VolumeName)
	}
	pv, err := m.src.PersistentVolume(ctx, pvc.Spec.VolumeName)
	if err != nil {
		return mountedVolume{}, fmt.Errorf("error processing PVC %s/%s: %w", pod.Namespace, claimName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID {
		return mountedVolume{}, fmt.Errorf("PVC %s/%s is bound to PV %s, but the PV is not bound to this claim", pod.Namespace, claimName, pv.Name)
	}

	switch {
	case pv.Spec.HostPath != nil:
		if err := checkHostPathType(pv.Spec.HostPath.Path, pv.Spec.HostPath.Type); err != nil {
			return mountedVolume{}, err
		}
		return mountedVolume{hostPath: pv.Spec.HostPath.Path, readOnly: readOnly}, nil
	case pv.Spec.Local != nil:
		target := m.volumeDir(pod.UID, pluginLocal, pv.Name)
		if err := bindLocalVolume(pv.Spec.Local.Path, target); err != nil {
			return mountedVolume{}, err
		}
		return mountedVolume{hostPath: target, readOnly: readOnly}, nil
	}
	return mountedVolume{}, fmt.Errorf("PV %s: only hostPath and local persistent volumes are supported by this kubelet", pv.Name)
}

// bindLocalVolume bind-mounts a local volume's path (a directory) onto
// target unless it is mounted there already.
func bindLocalVolume(source, target string) error {
	info, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("local volume path %s: %w", source, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("local volume path %s is not a directory", source)
	}
	if _, err := ensureDir(target, 0o750); err != nil {
		return err
	}
	mounted, err := isMountPoint(target)
	if err != nil {
		return err
	}
	if mounted {
		return nil
	}
	if err := bindMount(source, target); err != nil {
		return errors.Join(err, os.Remove(target))
	}
	return nil
}
