package kubelet

import (
	"fmt"
	"path/filepath"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podDir is <data-dir>/agent/pods/<uid>.
func (k *Kubelet) podDir(uid types.UID) string {
	return filepath.Join(k.cfg.podsDir(), string(uid))
}

// hostsFilePath is the kubelet-managed /etc/hosts of a pod.
func (k *Kubelet) hostsFilePath(uid types.UID) string {
	return filepath.Join(k.podDir(uid), "etc-hosts")
}

// terminationMessageFile is the host side of a container instance's
// terminationMessagePath; one file per restart so a new instance never sees
// the message of the previous one.
func (k *Kubelet) terminationMessageFile(uid types.UID, container string, restartCount int) string {
	return filepath.Join(k.podDir(uid), "containers", container, strconv.Itoa(restartCount))
}

// podLogDir is /var/log/pods/<ns>_<name>_<uid>, the sandbox's log directory.
func (k *Kubelet) podLogDir(pod *v1.Pod) string {
	return filepath.Join(k.cfg.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// containerLogPath is relative to the sandbox log directory, as CRI wants.
func containerLogPath(container string, restartCount int) string {
	return filepath.Join(container, strconv.Itoa(restartCount)+".log")
}

// podFullName is upstream's pod identity in messages: name_namespace(uid).
func podFullName(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
