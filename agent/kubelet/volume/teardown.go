package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/types"
)

// Teardown unmounts everything mounted under the pod's directory (tmpfs
// volumes, local volume and subPath bind mounts) and removes its volume
// directories. It works from the mount table, not from memory, so it also
// cleans up pods of an earlier kubelet run. Nothing is deleted while a
// mount remains, and deletion never follows symlinks, so a hostPath or a
// link a container planted cannot lead it out of the pod's directory.
func (m *Manager) Teardown(podUID types.UID) error {
	if podUID == "" {
		return errors.New("teardown: empty pod UID")
	}
	defer m.lockPod(podUID)()

	podDir := m.podDir(podUID)
	points, err := mountPointsUnder(podDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range points {
		if err := unmount(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unmount volumes of pod %s: %w", podUID, err)
	}
	remaining, err := mountPointsUnder(podDir)
	if err != nil {
		return err
	}
	if len(remaining) > 0 {
		return fmt.Errorf("volumes of pod %s are still mounted at %v; not removing them", podUID, remaining)
	}
	for _, name := range []string{volumesDirName, subPathsDirName} {
		if err := os.RemoveAll(filepath.Join(podDir, name)); err != nil {
			return fmt.Errorf("remove %s of pod %s: %w", name, podUID, err)
		}
	}

	m.tokens.forget(podUID)
	m.mu.Lock()
	delete(m.pods, podUID)
	m.mu.Unlock()
	return nil
}
