package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// untoleratedPreferNoSchedule counts the node's PreferNoSchedule taints
// the pod does not tolerate (fewer is better).
func untoleratedPreferNoSchedule(pod *corev1.Pod, n *nodeInfo) int64 {
	var count int64
	for i := range n.taints {
		t := &n.taints[i]
		if t.Effect != corev1.TaintEffectPreferNoSchedule {
			continue
		}
		tolerated := false
		for j := range pod.Spec.Tolerations {
			tol := &pod.Spec.Tolerations[j]
			if (tol.Effect == "" || tol.Effect == corev1.TaintEffectPreferNoSchedule) && corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations[j:j+1], t, tolerationComparisonOperators) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			count++
		}
	}
	return count
}

// normalize scales raw scores to 0..100 relative to the highest; with
// reverse the lowest raw score gets 100 (upstream's default
// normalization).
func normalize(raw []int64, reverse bool) {
	var highest int64
	for _, v := range raw {
		highest = max(highest, v)
	}
	for i, v := range raw {
		switch {
		case highest == 0 && reverse:
			raw[i] = maxNodeScore
		case highest == 0:
			raw[i] = 0
		case reverse:
			raw[i] = maxNodeScore - v*maxNodeScore/highest
		default:
			raw[i] = v * maxNodeScore / highest
		}
	}
}

// normalizeMinMax scales raw scores, which may be negative, so that the
// lowest gets 0 and the highest 100 (all 0 when they are equal).
func normalizeMinMax(raw []int64) {
	if len(raw) == 0 {
		return
	}
	lo, hi := raw[0], raw[0]
	for _, v := range raw {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i, v := range raw {
		if hi > lo {
			raw[i] = (v - lo) * maxNodeScore / (hi - lo)
		} else {
			raw[i] = 0
		}
	}
}
