package node

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Threshold is one hard eviction threshold: a signal is under pressure when
// what is available falls below Quantity, or below Percent of the total.
// The zero Threshold never fires.
type Threshold struct {
	Quantity int64
	Percent  float64
}

// below reports whether available is under the threshold for total.
func (t Threshold) below(available, total int64) bool {
	if t.Percent > 0 {
		return float64(available) < float64(total)*t.Percent/100
	}
	return available < t.Quantity
}

// reserve is how much of total the threshold keeps back from allocatable.
func (t Threshold) reserve(total int64) int64 {
	if t.Percent > 0 {
		return int64(math.Ceil(float64(total) * t.Percent / 100))
	}
	return t.Quantity
}

// EvictionThresholds are the signals the kubelet's --eviction-hard names
// and kite watches for the node's pressure conditions and allocatable.
type EvictionThresholds struct {
	MemoryAvailable  Threshold // memory.available
	NodefsAvailable  Threshold // nodefs.available
	NodefsInodesFree Threshold // nodefs.inodesFree
	// The image store is on the node's file system, so the imagefs signals
	// watch that same file system.
	ImagefsAvailable  Threshold // imagefs.available
	ImagefsInodesFree Threshold // imagefs.inodesFree
	PIDAvailable      Threshold // pid.available
}

// DefaultEvictionThresholds are the kubelet's defaults, except that
// imagefs.available is off (the kubelet's 15% would, on the shared file
// system, raise DiskPressure before nodefs.available's 10%), plus
// pid.available<5% (the kubelet has none): a node nearly out of PIDs cannot
// start pods.
func DefaultEvictionThresholds() EvictionThresholds {
	return EvictionThresholds{
		MemoryAvailable:  Threshold{Quantity: 100 << 20},
		NodefsAvailable:  Threshold{Percent: 10},
		NodefsInodesFree: Threshold{Percent: 5},
		PIDAvailable:     Threshold{Percent: 5},
	}
}

// ParseEvictionHard reads the kubelet's --eviction-hard form, such as
// "memory.available<100Mi,nodefs.available<10%", over the defaults: a
// signal it does not name keeps its default, and "<0%" or "<0" turns one
// off.
func ParseEvictionHard(s string, base EvictionThresholds) (EvictionThresholds, error) {
	out := base
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		signal, value, ok := strings.Cut(item, "<")
		if !ok {
			return base, fmt.Errorf("eviction threshold %q: want signal<value, such as nodefs.available<10%%", item)
		}
		var target *Threshold
		switch strings.TrimSpace(signal) {
		case "memory.available":
			target = &out.MemoryAvailable
		case "nodefs.available":
			target = &out.NodefsAvailable
		case "nodefs.inodesFree":
			target = &out.NodefsInodesFree
		case "imagefs.available":
			target = &out.ImagefsAvailable
		case "imagefs.inodesFree":
			target = &out.ImagefsInodesFree
		case "pid.available":
			target = &out.PIDAvailable
		default:
			return base, fmt.Errorf("eviction threshold %q: unknown signal %q (known: memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, pid.available)", item, signal)
		}
		t, err := parseThreshold(strings.TrimSpace(value))
		if err != nil {
			return base, fmt.Errorf("eviction threshold %q: %w", item, err)
		}
		*target = t
	}
	return out, nil
}

func parseThreshold(v string) (Threshold, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, err := strconv.ParseFloat(pct, 64)
		if err != nil || p < 0 || p > 100 {
			return Threshold{}, fmt.Errorf("percentage %q must be between 0%% and 100%%", v)
		}
		return Threshold{Percent: p}, nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() < 0 {
		return Threshold{}, fmt.Errorf("%q is neither a percentage nor a non-negative quantity", v)
	}
	return Threshold{Quantity: q.Value()}, nil
}
