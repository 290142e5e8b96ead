package envvars

import (
	"fmt"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ContainerResourceValue is the downward API value of a container resource
// (limits.cpu, requests.memory, ...) in units of ref.Divisor, rounded up.
// ref.ContainerName selects a container of the pod (app or init); when it is
// empty, container is used. A container without a cpu, memory or
// ephemeral-storage limit reports the pod-level limit if the pod sets one,
// else the node's allocatable amount.
func ContainerResourceValue(ref *v1.ResourceFieldSelector, pod *v1.Pod, container *v1.Container, nodeAllocatable v1.ResourceList) (string, error) {
	if ref.ContainerName != "" {
		found := findContainer(pod, ref.ContainerName)
		if found == nil {
			return "", fmt.Errorf("container %s not found", ref.ContainerName)
		}
		container = found
	}
	if container == nil {
		return "", fmt.Errorf("resource %s: no container given", ref.Resource)
	}

	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
	}
	resName := v1.ResourceName(name)
	switch {
	case resName == v1.ResourceCPU, resName == v1.ResourceMemory, resName == v1.ResourceEphemeralStorage:
	case strings.HasPrefix(name, v1.ResourceHugePagesPrefix):
	default:
		return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
	}

	var quantity resource.Quantity
	if kind == "requests" {
		quantity = container.Resources.Requests[resName]
	} else {
		quantity = effectiveLimit(pod, container, resName, nodeAllocatable)
	}

	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	// CPU divides in millicores so "1m" divisors work; everything else in
	// whole units.
	var value, per int64
	if resName == v1.ResourceCPU {
		value, per = quantity.MilliValue(), divisor.MilliValue()
	} else {
		value, per = quantity.Value(), divisor.Value()
	}
	if per <= 0 {
		return "", fmt.Errorf("invalid divisor %s for %s", ref.Divisor.String(), ref.Resource)
	}
	return strconv.FormatInt(ceilDiv(value, per), 10), nil
}

// effectiveLimit is the container's limit for a resource, defaulting as the
// kubelet does for the downward API. Huge pages are never defaulted: they
// are not overcommitted, so a container using them always states a limit.
func effectiveLimit(pod *v1.Pod, container *v1.Container, name v1.ResourceName, nodeAllocatable v1.ResourceList) resource.Quantity {
	if q, ok := container.Resources.Limits[name]; ok && !q.IsZero() {
		return q
	}
	if name != v1.ResourceCPU && name != v1.ResourceMemory && name != v1.ResourceEphemeralStorage {
		return resource.Quantity{}
	}
	allocatable, ok := nodeAllocatable[name]
	if !ok {
		return resource.Quantity{}
	}
	// Pod-level limits (cpu and memory only) cap what the node offers.
	if pod != nil && pod.Spec.Resources != nil && (name == v1.ResourceCPU || name == v1.ResourceMemory) {
		if q, ok := pod.Spec.Resources.Limits[name]; ok && !q.IsZero() {
			return q
		}
	}
	return allocatable
}

func findContainer(pod *v1.Pod, name string) *v1.Container {
	if pod == nil {
		return nil
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// ceilDiv divides rounding up, for non-negative a and positive b, without
// the overflow of (a+b-1)/b.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b > 0 {
		q++
	}
	return q
}
