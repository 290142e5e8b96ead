package volume

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/envvars"
)

// etcHostsPath is where the kubelet-managed hosts file goes.
const etcHostsPath = "/etc/hosts"

// MountOptions is what ContainerMounts needs besides the pod and container.
type MountOptions struct {
	// HostsFile is the pod's managed hosts file; it is mounted on
	// /etc/hosts unless the container mounts something there itself or the
	// pod uses the host network without hostAliases.
	HostsFile string
	// Env is the container's resolved environment, for subPathExpr.
	Env []*runtimeapi.KeyValue
	// ImageVolumes are the pulled images of the pod's image volumes, by
	// volume name.
	ImageVolumes map[string]*runtimeapi.ImageSpec
	// RecursiveReadOnly tells whether the runtime handler supports
	// recursive read-only mounts.
	RecursiveReadOnly bool
}

// Mounts is ContainerMounts with only a hosts file.
func (m *Manager) Mounts(pod *v1.Pod, c *v1.Container, hostsFile string) ([]*runtimeapi.Mount, error) {
	return m.ContainerMounts(pod, c, MountOptions{HostsFile: hostsFile})
}

// ContainerMounts turns the container's volumeMounts into CRI mounts of the
// volumes Setup prepared. subPath mounts are bind-mounted under
// <pod>/volume-subpaths/<volume>/<container>/<index> first, so they cannot
// be redirected out of their volume.
func (m *Manager) ContainerMounts(pod *v1.Pod, c *v1.Container, opts MountOptions) ([]*runtimeapi.Mount, error) {
	m.mu.Lock()
	volumes := m.pods[pod.UID]
	m.mu.Unlock()

	mountHosts := opts.HostsFile != "" && (!pod.Spec.HostNetwork || len(pod.Spec.HostAliases) > 0)
	mounts := make([]*runtimeapi.Mount, 0, len(c.VolumeMounts)+1)
	for i, vm := range c.VolumeMounts {
		if vm.MountPath == etcHostsPath {
			mountHosts = false
		}
		vol, ok := volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		subPath, err := mountSubPath(vm, opts.Env)
		if err != nil {
			return nil, err
		}
		propagation, err := criPropagation(vm.MountPropagation, c)
		if err != nil {
			return nil, err
		}
		rro, err := recursiveReadOnly(vm, opts.RecursiveReadOnly)
		if err != nil {
			return nil, err
		}
		mount := &runtimeapi.Mount{
			ContainerPath:     vm.MountPath,
			Readonly:          vm.ReadOnly || vol.readOnly,
			RecursiveReadOnly: rro,
			Propagation:       propagation,
			MountOptions:      vm.BindMountOptions,
		}
		if vol.image != nil {
			image, ok := opts.ImageVolumes[vm.Name]
			if !ok {
				return nil, fmt.Errorf("image %q of volume %q has not been pulled", vol.image.Reference, vm.Name)
			}
			mount.Image, mount.ImageSubPath = image, subPath
			mounts = append(mounts, mount)
			continue
		}
		mount.HostPath = vol.hostPath
		if subPath != "" {
			target := filepath.Join(m.podDir(pod.UID), subPathsDirName, vm.Name, c.Name, strconv.Itoa(i))
			if err := prepareSubPath(vol.hostPath, subPath, target); err != nil {
				// The details name host paths; they go to the log only.
				slog.Error("failed to prepare subPath", "component", "kubelet", "pod", pod.Namespace+"/"+pod.Name,
					"container", c.Name, "volumeMount", vm.Name, "err", err)
				return nil, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", vm.Name, c.Name)
			}
			mount.HostPath = target
		}
		mounts = append(mounts, mount)
	}
	if mountHosts {
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: etcHostsPath, HostPath: opts.HostsFile})
	}
	return mounts, nil
}

// mountSubPath is the volumeMount's subPath, or its subPathExpr expanded
// with the container's environment; either must stay inside the volume.
func mountSubPath(vm v1.VolumeMount, env []*runtimeapi.KeyValue) (string, error) {
	subPath := vm.SubPath
	if vm.SubPathExpr != "" {
		values := make(map[string]string, len(env))
		for _, kv := range env {
			values[kv.Key] = string(kv.Value)
		}
		var missing []string
		subPath = envvars.Expand(vm.SubPathExpr, func(name string) (string, bool) {
			v, ok := values[name]
			if !ok || v == "" {
				missing = append(missing, name)
			}
			return v, true
		})
		if len(missing) > 0 {
			slices.Sort(missing)
			return "", fmt.Errorf("missing value for %s", strings.Join(slices.Compact(missing), ", "))
		}
	}
	if subPath == "" {
		return "", nil
	}
	if filepath.IsAbs(subPath) {
		return "", fmt.Errorf("error SubPath `%s` must not be an absolute path", subPath)
	}
	for _, part := range strings.Split(filepath.ToSlash(subPath), "/") {
		if part == ".." {
			return "", fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", subPath)
		}
	}
	return subPath, nil
}

func criPropagation(mode *v1.MountPropagationMode, c *v1.Container) (runtimeapi.MountPropagation, error) {
	if mode == nil {
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	}
	switch *mode {
	case v1.MountPropagationNone:
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	case v1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, nil
	case v1.MountPropagationBidirectional:
		if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
			return 0, fmt.Errorf("bidirectional mount propagation is available only to privileged containers")
		}
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, nil
	}
	return 0, fmt.Errorf("invalid MountPropagation mode: %q", *mode)
}

func recursiveReadOnly(vm v1.VolumeMount, supported bool) (bool, error) {
	if vm.RecursiveReadOnly == nil || *vm.RecursiveReadOnly == v1.RecursiveReadOnlyDisabled {
		return false, nil
	}
	if !vm.ReadOnly {
		return false, fmt.Errorf("volume %q requested recursive read-only mode, but it is not read-only", vm.Name)
	}
	if vm.MountPropagation != nil && *vm.MountPropagation != v1.MountPropagationNone {
		return false, fmt.Errorf("volume %q requested recursive read-only mode, but it is not compatible with propagation %q", vm.Name, *vm.MountPropagation)
	}
	switch *vm.RecursiveReadOnly {
	case v1.RecursiveReadOnlyIfPossible:
		return supported, nil
	case v1.RecursiveReadOnlyEnabled:
		if !supported {
			return false, fmt.Errorf("volume %q requested recursive read-only mode, but it is not supported by the runtime", vm.Name)
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown recursive read-only mode %q", *vm.RecursiveReadOnly)
}
