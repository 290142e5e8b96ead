package kubelet

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	v1qos "k8s.io/kubernetes/pkg/apis/core/v1/helper/qos"
)

// Constants the upstream kubelet uses to turn requests and limits into
// cgroup values.
const (
	minCPUShares   = 2
	sharesPerCPU   = 1024
	milliCPUToCPU  = 1000
	cpuQuotaPeriod = 100000 // 100 ms in µs
	minQuota       = 1000

	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
)

// podQOS is the pod's QoS class, computed when the API server has not set it
// (static pods).
func podQOS(pod *v1.Pod) v1.PodQOSClass {
	return v1qos.GetPodQOS(pod)
}

// cgroupParent is the pod's cgroup under the cgroupfs driver:
// /kubepods/pod<uid> for Guaranteed pods, /kubepods/burstable/pod<uid> and
// /kubepods/besteffort/pod<uid> for the others.
func cgroupParent(pod *v1.Pod) string {
	name := "pod" + string(pod.UID)
	switch podQOS(pod) {
	case v1.PodQOSGuaranteed:
		return path.Join("/kubepods", name)
	case v1.PodQOSBurstable:
		return path.Join("/kubepods", "burstable", name)
	default:
		return path.Join("/kubepods", "besteffort", name)
	}
}

// cpuShares turns a CPU request in millicores into cgroup shares.
func cpuShares(milliCPU int64) int64 {
	if milliCPU == 0 {
		return minCPUShares
	}
	shares := milliCPU * sharesPerCPU / milliCPUToCPU
	return max(shares, minCPUShares)
}

// cpuQuota turns a CPU limit in millicores into a CFS quota per period.
func cpuQuota(milliCPU int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	return max(milliCPU*cpuQuotaPeriod/milliCPUToCPU, minQuota)
}

// oomScoreAdj ranks the container for the OOM killer as the upstream
// kubelet does: Guaranteed pods last, BestEffort first, Burstable by the
// share of memory they asked for. The result never goes below floor, the
// kubelet's own score: the runtime cannot lower a score here
// (CAP_SYS_RESOURCE is missing) and would fail to start the container.
func oomScoreAdj(pod *v1.Pod, c *v1.Container, memoryCapacity int64, floor int) int {
	var score int
	switch podQOS(pod) {
	case v1.PodQOSGuaranteed:
		score = guaranteedOOMScoreAdj
	case v1.PodQOSBestEffort:
		score = besteffortOOMScoreAdj
	default:
		score = besteffortOOMScoreAdj
		if memoryCapacity > 0 {
			request := c.Resources.Requests.Memory().Value()
			score = 1000 - int(1000*request/memoryCapacity)
		}
		// Burstable stays strictly between Guaranteed and BestEffort.
		score = max(score, 1000+guaranteedOOMScoreAdj)
		if score == besteffortOOMScoreAdj {
			score--
		}
	}
	return max(score, floor)
}

// linuxResources turns the container's requests and limits into CRI cgroup
// settings.
func linuxResources(pod *v1.Pod, c *v1.Container, memoryCapacity int64, oomFloor int) *runtimeapi.LinuxContainerResources {
	cpuRequest := c.Resources.Requests.Cpu().MilliValue()
	cpuLimit := c.Resources.Limits.Cpu().MilliValue()
	if cpuRequest == 0 && cpuLimit != 0 {
		cpuRequest = cpuLimit
	}
	r := &runtimeapi.LinuxContainerResources{
		CpuShares:          cpuShares(cpuRequest),
		MemoryLimitInBytes: c.Resources.Limits.Memory().Value(),
		OomScoreAdj:        int64(oomScoreAdj(pod, c, memoryCapacity, oomFloor)),
	}
	if q := cpuQuota(cpuLimit); q > 0 {
		r.CpuQuota = q
		r.CpuPeriod = cpuQuotaPeriod
	}
	return r
}

// readMemoryCapacity reads MemTotal from /proc/meminfo, in bytes.
func readMemoryCapacity(meminfo string) (int64, error) {
	data, err := os.ReadFile(meminfo)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", meminfo, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse MemTotal in %s: %w", meminfo, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in %s", meminfo)
}

// readOwnOOMScoreAdj is the kubelet process's own oom_score_adj: the lowest
// score its children may be given.
func readOwnOOMScoreAdj() int {
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return n
}
