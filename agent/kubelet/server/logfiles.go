package server

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// podLogDir is where the kubelet keeps a container's logs:
// <logs>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log.
func podLogDir(root string, pod *corev1.Pod, container string) string {
	return filepath.Join(root, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), container)
}

// restartsWithLogs lists the restart counts that have a log file, oldest
// first. Rotated files (<n>.log.<time>) are not current logs.
func restartsWithLogs(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []int
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || e.IsDir() {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i >= 0 {
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out, nil
}

func logFileName(dir string, restart int) string {
	return filepath.Join(dir, strconv.Itoa(restart)+".log")
}

// containerStatus finds a container's status among every kind of
// container the pod has.
func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func podHasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// chooseLogRestart picks which run's log to read, as the kubelet chooses
// a container ID from the container's status: the current run, or with
// previous the last terminated one. A container waiting to restart after
// a crash shows its last run either way. The errors are worded as the
// kubelet words them.
func chooseLogRestart(restarts []int, status *corev1.ContainerStatus, podName, container string, previous bool) (int, error) {
	newest := -1
	if len(restarts) > 0 {
		newest = restarts[len(restarts)-1]
	}
	// Between runs (back-off) the newest file belongs to the run that
	// last terminated rather than to a current one.
	betweenRuns := status != nil && status.State.Running == nil && status.State.Terminated == nil && status.LastTerminationState.Terminated != nil
	if previous {
		switch {
		case betweenRuns && newest >= 0:
			return newest, nil
		case !betweenRuns && len(restarts) >= 2:
			return restarts[len(restarts)-2], nil
		}
		return 0, fmt.Errorf("previous terminated container %q in pod %q not found", container, podName)
	}
	if newest >= 0 {
		return newest, nil
	}
	switch {
	case status == nil:
		return 0, fmt.Errorf("container %q in pod %q is not available", container, podName)
	case status.State.Waiting != nil:
		return 0, fmt.Errorf("container %q in pod %q is waiting to start: %s", container, podName, waitingReason(status.State.Waiting.Reason))
	case status.State.Terminated != nil || status.LastTerminationState.Terminated != nil:
		return 0, fmt.Errorf("container %q in pod %q is terminated", container, podName)
	}
	return 0, fmt.Errorf("container %q in pod %q is not available", container, podName)
}

func waitingReason(reason string) string {
	switch reason {
	case "ErrImagePull":
		return "image can't be pulled"
	case "ImagePullBackOff":
		return "trying and failing to pull image"
	}
	return reason
}
