package nodelifecycle

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// conditionTaints says which node condition, in which status, gives the
// node which taint key (upstream's TaintNodesByCondition). Ready has two:
// False means the kubelet says "not ready", Unknown means nobody has heard
// from the kubelet.
var conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeReady: {
		corev1.ConditionFalse:   corev1.TaintNodeNotReady,
		corev1.ConditionUnknown: corev1.TaintNodeUnreachable,
	},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
	corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
	corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
}

// conditionTaintKeys are the keys this controller owns as NoSchedule taints.
var conditionTaintKeys = map[string]bool{
	corev1.TaintNodeNotReady:           true,
	corev1.TaintNodeUnreachable:        true,
	corev1.TaintNodeMemoryPressure:     true,
	corev1.TaintNodeDiskPressure:       true,
	corev1.TaintNodePIDPressure:        true,
	corev1.TaintNodeNetworkUnavailable: true,
	corev1.TaintNodeUnschedulable:      true,
}

// The NoExecute taints taint-based eviction acts on; a node has at most one.
var (
	notReadyNoExecute    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	unreachableNoExecute = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
)

// noScheduleTaints are the NoSchedule taints the node's conditions and
// spec.unschedulable (cordon) call for.
func noScheduleTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, c := range node.Status.Conditions {
		if key, ok := conditionTaints[c.Type][c.Status]; ok {
			out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		out = append(out, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// reconcileNoSchedule returns the node's taints with the controller-owned
// NoSchedule taints made to match want, and whether anything changed.
// Taints of others are kept as they are.
func reconcileNoSchedule(taints, want []corev1.Taint, now metav1.Time) ([]corev1.Taint, bool) {
	var have, remove []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoSchedule && conditionTaintKeys[t.Key] {
			have = append(have, t)
		}
	}
	for _, t := range have {
		if !containsTaint(want, t) {
			remove = append(remove, t)
		}
	}
	var add []corev1.Taint
	for _, t := range want {
		if !containsTaint(have, t) {
			add = append(add, t)
		}
	}
	return swapTaints(taints, add, remove, now)
}

// swapTaints removes the remove taints (matched by key and effect) and
// appends the add taints that are missing, stamped with now. It returns the
// new list and whether it differs from taints.
func swapTaints(taints, add, remove []corev1.Taint, now metav1.Time) ([]corev1.Taint, bool) {
	changed := false
	out := make([]corev1.Taint, 0, len(taints)+len(add))
	for _, t := range taints {
		if containsTaint(remove, t) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, t := range add {
		if containsTaint(out, t) {
			continue
		}
		t.TimeAdded = &now
		out = append(out, t)
		changed = true
	}
	return out, changed
}

func containsTaint(taints []corev1.Taint, t corev1.Taint) bool {
	for i := range taints {
		if taints[i].MatchTaint(&t) {
			return true
		}
	}
	return false
}

// patchTaints replaces the node's taints, on the condition that the node is
// still at the resourceVersion taints were computed from (spec.taints has
// no merge key, so a stale list would undo someone else's change).
func patchTaints(ctx context.Context, client kubernetes.Interface, node *corev1.Node, taints []corev1.Taint) (*corev1.Node, error) {
	var list any = taints
	if len(taints) == 0 {
		list = nil // null removes the field in a merge patch
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
		"spec":     map[string]any{"taints": list},
	})
	if err != nil {
		return nil, err
	}
	return client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}
