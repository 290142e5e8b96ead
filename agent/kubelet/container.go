package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"

	"kite/agent/kubelet/crilabels"
	"kite/agent/kubelet/envvars"
	"kite/agent/kubelet/volume"
)

// defaultTerminationMessagePath is where a container writes its
// termination message unless the spec says otherwise.
const defaultTerminationMessagePath = "/dev/termination-log"

// allContainers lists init containers then app containers.
func allContainers(pod *v1.Pod) []*v1.Container {
	out := make([]*v1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// containerSpec finds a container of the pod by name and tells whether it
// is an init container.
func containerSpec(pod *v1.Pod, name string) (*v1.Container, bool) {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], false
		}
	}
	return nil, false
}

// isSidecar: an init container with restartPolicy Always runs beside the
// app containers.
func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// containerHash fingerprints what a running container was created from;
// a different hash (e.g. a new image) means the container is replaced.
// Resources are left out: they change in place.
func containerHash(c *v1.Container) string {
	cp := c.DeepCopy()
	cp.Resources = v1.ResourceRequirements{}
	cp.ResizePolicy = nil
	data, _ := json.Marshal(cp)
	h := fnv.New32a()
	_, _ = h.Write(data)
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// expandCommand substitutes $(VAR) in command and args with the
// container's environment, as upstream does.
func expandCommand(c *v1.Container, env []*runtimeapi.KeyValue) (cmd, args []string) {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		vars[kv.Key] = string(kv.Value)
	}
	mapping := expansion.MappingFuncFor(vars)
	for _, s := range c.Command {
		cmd = append(cmd, expansion.Expand(s, mapping))
	}
	for _, s := range c.Args {
		args = append(args, expansion.Expand(s, mapping))
	}
	return cmd, args
}

// containerLabels identify the container for the kubelet and tools.
func containerLabels(pod *v1.Pod, c *v1.Container) map[string]string {
	return map[string]string{
		crilabels.PodName:       pod.Name,
		crilabels.PodNamespace:  pod.Namespace,
		crilabels.PodUID:        string(pod.UID),
		crilabels.ContainerName: c.Name,
	}
}

func containerAnnotations(pod *v1.Pod, c *v1.Container, restartCount int) map[string]string {
	a := map[string]string{
		crilabels.ContainerHashAnnotation:            containerHash(c),
		crilabels.RestartCountAnnotation:             strconv.Itoa(restartCount),
		crilabels.TerminationMessagePathAnnotation:   terminationMessagePath(c),
		crilabels.TerminationMessagePolicyAnnotation: string(terminationMessagePolicy(c)),
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		a[crilabels.PodTerminationGracePeriodAnnotation] = strconv.FormatInt(*pod.Spec.TerminationGracePeriodSeconds, 10)
	}
	return a
}

func terminationMessagePath(c *v1.Container) string {
	if c.TerminationMessagePath != "" {
		return c.TerminationMessagePath
	}
	return defaultTerminationMessagePath
}

func terminationMessagePolicy(c *v1.Container) v1.TerminationMessagePolicy {
	if c.TerminationMessagePolicy != "" {
		return c.TerminationMessagePolicy
	}
	return v1.TerminationMessageReadFile
}

// configError marks failures that are the pod's fault (missing ConfigMap,
// runAsNonRoot violated): CreateContainerConfigError rather than
// CreateContainerError.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// containerConfig builds the CRI description of a new container instance.
func (k *Kubelet) containerConfig(ctx context.Context, pod *v1.Pod, c *v1.Container, image string, img imageUser,
	restartCount int, podIPs []string) (*runtimeapi.ContainerConfig, error) {
	sc := effectiveSecurityContext(pod, c)
	if err := verifyRunAsNonRoot(pod, c, sc, img); err != nil {
		return nil, configError{err}
	}
	withIPs := podWithIPs(pod, podIPs, k.sources.hostIPs())
	allocatable := k.sources.nodeAllocatable()
	k.volumes.SetNodeAllocatable(allocatable)
	volumePath := func(name string) (string, bool) { return k.volumes.VolumePath(pod.UID, name) }
	env, err := envvars.ResolveWithVolumes(ctx, withIPs, c, k.envSources, allocatable, volumePath)
	if err != nil {
		return nil, configError{err}
	}
	mounts, err := k.volumes.ContainerMounts(withIPs, c, volume.MountOptions{HostsFile: k.hostsFilePath(pod.UID), Env: env})
	if err != nil {
		return nil, configError{err}
	}
	termFile := k.terminationMessageFile(pod.UID, c.Name, restartCount)
	if err := createTerminationMessageFile(termFile); err != nil {
		return nil, err
	}
	mounts = append(mounts, &runtimeapi.Mount{
		ContainerPath: terminationMessagePath(c),
		HostPath:      termFile,
	})
	cmd, args := expandCommand(c, env)
	return &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(restartCount)},
		Image:       &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: c.Image},
		Command:     cmd,
		Args:        args,
		WorkingDir:  c.WorkingDir,
		Envs:        env,
		Mounts:      mounts,
		Labels:      containerLabels(pod, c),
		Annotations: containerAnnotations(pod, c, restartCount),
		LogPath:     containerLogPath(c.Name, restartCount),
		Stdin:       c.Stdin,
		StdinOnce:   c.StdinOnce,
		Tty:         c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(pod, c, k.memoryCapacity, k.oomScoreFloor),
			SecurityContext: linuxSecurityContext(pod, sc, filepath.Join(k.cfg.DataDir, "seccomp")),
		},
	}, nil
}

// podWithIPs is the pod as env and volume resolution must see it: with the
// IPs the sandbox just got, before the status carrying them is written.
func podWithIPs(pod *v1.Pod, podIPs, hostIPs []string) *v1.Pod {
	cp := pod.DeepCopy()
	cp.Status.PodIPs = nil
	for _, ip := range podIPs {
		cp.Status.PodIPs = append(cp.Status.PodIPs, v1.PodIP{IP: ip})
	}
	if len(podIPs) > 0 {
		cp.Status.PodIP = podIPs[0]
	}
	cp.Status.HostIPs = nil
	for _, ip := range hostIPs {
		cp.Status.HostIPs = append(cp.Status.HostIPs, v1.HostIP{IP: ip})
	}
	if len(hostIPs) > 0 {
		cp.Status.HostIP = hostIPs[0]
	}
	return cp
}

// createTerminationMessageFile makes the empty, world-writable file the
// container's terminationMessagePath is mounted from.
func createTerminationMessageFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create termination message dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return fmt.Errorf("create termination message file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create termination message file: %w", err)
	}
	// The umask trimmed the mode; any user in the container must write it.
	if err := os.Chmod(path, 0o666); err != nil {
		return fmt.Errorf("chmod termination message file: %w", err)
	}
	return nil
}
