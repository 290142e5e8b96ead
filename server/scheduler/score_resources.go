package scheduler

import "math"

// maxNodeScore is the best score one plugin gives a node.
const maxNodeScore = 100

// leastAllocatedScore favours nodes with the most cpu and memory left once
// the pod is on them (requests of pods that ask for nothing count as
// upstream's defaults), cpu and memory weighing the same.
func leastAllocatedScore(pi *podInfo, n *nodeInfo) int64 {
	var sum, weights int64
	for _, r := range [2][2]int64{
		{n.nonZeroCPU + pi.nonZeroCPU, n.allocatable.milliCPU},
		{n.nonZeroMem + pi.nonZeroMem, n.allocatable.memory},
	} {
		requested, capacity := r[0], r[1]
		if capacity == 0 {
			continue
		}
		weights++
		if requested <= capacity {
			sum += (capacity - requested) * maxNodeScore / capacity
		}
	}
	if weights == 0 {
		return 0
	}
	return sum / weights
}

// balancedAllocationScore favours nodes whose cpu and memory use stay in
// proportion, rewarding a placement that improves the balance: the score
// lies between 50 (balance much worse) and 100 (much better), 75 meaning
// unchanged.
func balancedAllocationScore(pi *podInfo, n *nodeInfo) int64 {
	if pi.requests.milliCPU == 0 && pi.requests.memory == 0 {
		return 0 // best-effort pods do not change the balance
	}
	alloc, used := &n.allocatable, &n.requested
	with := balance(used.milliCPU+pi.requests.milliCPU, alloc.milliCPU, used.memory+pi.requests.memory, alloc.memory)
	without := balance(used.milliCPU, alloc.milliCPU, used.memory, alloc.memory)
	return maxNodeScore/2 + (maxNodeScore/2+with-without)/2
}

// balance is 100 × (1 − standard deviation of the used fractions of cpu
// and memory); a node that offers only one of them is balanced.
func balance(cpu, cpuCap, mem, memCap int64) int64 {
	std := 0.0
	if cpuCap > 0 && memCap > 0 {
		std = math.Abs(math.Min(float64(cpu)/float64(cpuCap), 1)-math.Min(float64(mem)/float64(memCap), 1)) / 2
	}
	return int64((1 - std) * maxNodeScore)
}
