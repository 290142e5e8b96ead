package node

import (
	goruntime "runtime"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	maxPods = 110
	// maxImages is how many images node.status.images lists, largest first.
	maxImages = 50
)

// observation is one look at the machine and the runtime.
type observation struct {
	// eviction are the hard thresholds; they are also what allocatable
	// keeps back from capacity.
	eviction  EvictionThresholds
	cpus      int
	meminfo   map[string]int64
	hugepages map[string]resource.Quantity
	fs        *fsStats // nil when the data dir cannot be measured
	pidLimit  int64
	pidUsed   int64
	// notReady is empty when the runtime and its network are ready.
	notReady       string
	runtimeVersion string
	images         []*runtimeapi.Image
	machineID      string
	systemUUID     string
	bootID         string
	kernel         string
	osImage        string
}

func (o observation) pressure() pressure {
	var p pressure
	e := o.eviction
	if avail, ok := o.meminfo["MemAvailable"]; ok {
		p.memory = e.MemoryAvailable.below(avail, o.meminfo["MemTotal"])
	}
	if fs := o.fs; fs != nil {
		p.disk = e.NodefsAvailable.below(fs.available, fs.capacity) ||
			e.ImagefsAvailable.below(fs.available, fs.capacity)
		if fs.inodes > 0 {
			p.disk = p.disk || e.NodefsInodesFree.below(fs.inodesFree, fs.inodes) ||
				e.ImagefsInodesFree.below(fs.inodesFree, fs.inodes)
		}
	}
	if o.pidLimit > 0 {
		p.pid = e.PIDAvailable.below(o.pidLimit-o.pidUsed, o.pidLimit)
	}
	return p
}

// resources returns the node's capacity and allocatable.
func (o observation) resources() (capacity, allocatable corev1.ResourceList) {
	capacity = corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(o.cpus), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	allocatable = corev1.ResourceList{
		corev1.ResourceCPU:  capacity[corev1.ResourceCPU],
		corev1.ResourcePods: capacity[corev1.ResourcePods],
	}
	memory := o.meminfo["MemTotal"]
	capacity[corev1.ResourceMemory] = *resource.NewQuantity(memory, resource.BinarySI)
	// Huge pages are set aside by the kernel: pods get them as their own
	// resource, never as memory.
	allocMemory := memory - o.eviction.MemoryAvailable.reserve(memory)
	for name, q := range o.hugepages {
		capacity[corev1.ResourceName(name)] = q
		allocatable[corev1.ResourceName(name)] = q
		allocMemory -= q.Value()
	}
	allocatable[corev1.ResourceMemory] = *resource.NewQuantity(max(allocMemory, 0), resource.BinarySI)
	if o.fs != nil {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(o.fs.capacity, resource.BinarySI)
		reserved := o.eviction.NodefsAvailable.reserve(o.fs.capacity)
		allocatable[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(o.fs.capacity-reserved, resource.BinarySI)
	}
	return capacity, allocatable
}

// nodeImages lists the runtime's images as node.status.images does:
// largest first, at most maxImages, each named by digests and tags.
func nodeImages(images []*runtimeapi.Image) []corev1.ContainerImage {
	sorted := append([]*runtimeapi.Image(nil), images...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].GetSize() > sorted[j].GetSize() })
	var out []corev1.ContainerImage
	for _, img := range sorted {
		names := append(append([]string{}, img.GetRepoDigests()...), img.GetRepoTags()...)
		if len(names) == 0 {
			continue
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(img.GetSize())})
		if len(out) == maxImages {
			break
		}
	}
	return out
}

// desiredStatus is the status this node reports, built on the previous one
// so conditions keep their transition times.
func (n *Node) desiredStatus(previous corev1.NodeStatus, o observation, now metav1.Time) corev1.NodeStatus {
	capacity, allocatable := o.resources()
	st := previous.DeepCopy()
	st.Capacity = capacity
	st.Allocatable = allocatable
	st.Conditions = conditions(previous.Conditions, o.pressure(), o.notReady, now)
	st.Addresses = n.cfg.addresses()
	st.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(n.cfg.KubeletPort)}}
	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               o.machineID,
		SystemUUID:              o.systemUUID,
		BootID:                  o.bootID,
		KernelVersion:           o.kernel,
		OSImage:                 o.osImage,
		ContainerRuntimeVersion: o.runtimeVersion,
		KubeletVersion:          KubeletVersion,
		OperatingSystem:         goruntime.GOOS,
		Architecture:            goruntime.GOARCH,
	}
	st.Images = nodeImages(o.images)
	return *st
}
