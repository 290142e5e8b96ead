package nodelifecycle

import (
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// noExecuteTaints are the node's taints with the NoExecute effect.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// tolerationsFor reports whether tolerations tolerate every taint, and the
// first toleration that tolerates each (upstream picks the first match).
func tolerationsFor(taints []corev1.Taint, tolerations []corev1.Toleration) (bool, []corev1.Toleration) {
	logger := klog.Background() // only used by comparison operators, which are off as upstream's feature gate is
	var used []corev1.Toleration
	for i := range taints {
		tolerated := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(logger, &taints[i], false) {
				used = append(used, tolerations[j])
				tolerated = true
				break
			}
		}
		if !tolerated {
			return false, nil
		}
	}
	return true, used
}

// evictionDelay is how long a pod whose used tolerations are these may stay:
// the smallest tolerationSeconds (zero or less means none), or -1 when no
// toleration limits the time.
func evictionDelay(used []corev1.Toleration) time.Duration {
	if len(used) == 0 {
		return 0
	}
	least := int64(math.MaxInt64)
	for _, t := range used {
		if t.TolerationSeconds == nil {
			continue
		}
		if *t.TolerationSeconds <= 0 {
			return 0
		}
		least = min(least, *t.TolerationSeconds)
	}
	if least == math.MaxInt64 {
		return -1
	}
	return time.Duration(least) * time.Second
}
