package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Requests that count for scoring when a container asks for nothing, so
// that best-effort pods still spread (upstream's defaults).
const (
	defaultMilliCPURequest = 100               // 0.1 core
	defaultMemoryRequest   = 200 * 1024 * 1024 // 200 MiB
)

var nonZeroDefaults = corev1.ResourceList{
	corev1.ResourceCPU:    *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI),
	corev1.ResourceMemory: *resource.NewQuantity(defaultMemoryRequest, resource.BinarySI),
}

// resources is an amount of every schedulable resource, in the units the
// filters compare: millicores, bytes, and integers for the rest.
type resources struct {
	milliCPU         int64
	memory           int64
	ephemeralStorage int64
	// scalar holds extended resources, hugepages and the like; nil when
	// there are none (the common case), so most pods cost no map.
	scalar map[corev1.ResourceName]int64
}

func (r *resources) isZero() bool {
	return r.milliCPU == 0 && r.memory == 0 && r.ephemeralStorage == 0 && len(r.scalar) == 0
}

func (r *resources) add(o *resources, sign int64) {
	r.milliCPU += sign * o.milliCPU
	r.memory += sign * o.memory
	r.ephemeralStorage += sign * o.ephemeralStorage
	for name, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[name] += sign * v
		if r.scalar[name] == 0 {
			delete(r.scalar, name)
		}
	}
}

// resourcesFromList converts a ResourceList; pods are not a resource a pod
// requests, so the count of pods is left to the caller.
func resourcesFromList(list corev1.ResourceList) resources {
	var r resources
	for name, q := range list {
		switch name {
		case corev1.ResourceCPU:
			r.milliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.ephemeralStorage = q.Value()
		case corev1.ResourcePods:
		default:
			if v := q.Value(); v != 0 {
				if r.scalar == nil {
					r.scalar = map[corev1.ResourceName]int64{}
				}
				r.scalar[name] = v
			}
		}
	}
	return r
}

// podRequests is what the pod asks for: the larger of the sum of its
// containers and its biggest init step, plus its overhead (pod-level
// resources win when set), exactly as the kubelet admits it.
func podRequests(pod *corev1.Pod) resources {
	return resourcesFromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
}

// podNonZeroRequests is the cpu and memory used for scoring, where a
// container that requests nothing counts as requesting the defaults.
func podNonZeroRequests(pod *corev1.Pod) (milliCPU, memory int64) {
	list := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{NonMissingContainerRequests: nonZeroDefaults})
	return list.Cpu().MilliValue(), list.Memory().Value()
}

// nodeAllocatable returns what a node offers to pods, and how many pods it
// may run.
func nodeAllocatable(node *corev1.Node) (resources, int) {
	return resourcesFromList(node.Status.Allocatable), int(node.Status.Allocatable.Pods().Value())
}
