package scheduler

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// fitsResources checks the pod's requests against what the node's
// allocatable leaves after the pods already there, and the pod count.
// Every shortage is a reason; one that even an empty node could not meet
// is beyond preemption.
func fitsResources(pi *podInfo, n *nodeInfo) (nodeStatus, bool) {
	var st nodeStatus
	resolvable := true
	short := func(reason string, request, allocatable int64) {
		st.reasons = append(st.reasons, reason)
		if request > allocatable {
			resolvable = false
		}
	}
	if len(n.pods)+1 > n.allowedPods {
		short(reasonTooManyPods, 1, int64(n.allowedPods))
	}
	req, alloc, used := &pi.requests, &n.allocatable, &n.requested
	if !req.isZero() {
		if req.milliCPU > 0 && req.milliCPU > alloc.milliCPU-used.milliCPU {
			short("Insufficient cpu", req.milliCPU, alloc.milliCPU)
		}
		if req.memory > 0 && req.memory > alloc.memory-used.memory {
			short("Insufficient memory", req.memory, alloc.memory)
		}
		if req.ephemeralStorage > 0 && req.ephemeralStorage > alloc.ephemeralStorage-used.ephemeralStorage {
			short("Insufficient ephemeral-storage", req.ephemeralStorage, alloc.ephemeralStorage)
		}
		if len(req.scalar) > 0 {
			for _, name := range sortedNames(req.scalar) {
				if v := req.scalar[name]; v > 0 && v > alloc.scalar[name]-used.scalar[name] {
					short(fmt.Sprintf("Insufficient %v", name), v, alloc.scalar[name])
				}
			}
		}
	}
	if len(st.reasons) == 0 {
		return nodeStatus{}, true
	}
	st.resolvable = resolvable
	st.by = byResources
	return st, false
}

func sortedNames(m map[corev1.ResourceName]int64) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
