package scheduler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// failureMessage is upstream's summary of why no node fits, the filter
// reasons counted over the nodes, followed by what preemption would say:
// "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated
// taint(s). preemption: 0/3 nodes are available: 1 No preemption victims
// found for incoming pod, 2 Preemption is not helpful for scheduling."
func failureMessage(pod *corev1.Pod, nodes []*nodeInfo, statuses []nodeStatus) string {
	counts := map[string]int{}
	for i := range statuses {
		for _, r := range statuses[i].reasons {
			counts[r]++
		}
	}
	return summary(len(nodes), counts) + " " + preemptionMessage(pod, nodes, statuses)
}

// preemptionMessage says what upstream's preemption finds. Kite does not
// preempt; the message is upstream's for the case where preemption cannot
// help: nodes refused for reasons no eviction changes are "not helpful",
// nodes without lower-priority pods have "no victims", and nodes with
// some keep their filter reasons (as if evicting them did not help
// either, which is what happens here).
func preemptionMessage(pod *corev1.Pod, nodes []*nodeInfo, statuses []nodeStatus) string {
	if p := pod.Spec.PreemptionPolicy; p != nil && *p == corev1.PreemptNever {
		return messagePreemptionPolicyNone
	}
	counts := map[string]int{}
	potential := 0
	priority := podPriority(pod)
	for i := range statuses {
		st := &statuses[i]
		if st.reasons == nil || !st.resolvable {
			continue
		}
		potential++
		if !hasLowerPriorityPod(nodes[i], priority) {
			counts[reasonNoPreemptionVictims]++
			continue
		}
		for _, r := range st.reasons {
			counts[r]++
		}
	}
	if rest := len(nodes) - potential; rest > 0 {
		counts[reasonPreemptionNotHelpful] += rest
	}
	return "preemption: " + summary(len(nodes), counts)
}

// summary is "0/<nodes> nodes are available: <n> <reason>, ... ." with
// the "<n> <reason>" strings sorted, as upstream sorts them.
func summary(nodes int, counts map[string]int) string {
	parts := make([]string, 0, len(counts))
	for reason, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(parts)
	msg := fmt.Sprintf("0/%d nodes are available:", nodes)
	if len(parts) > 0 {
		msg += " " + strings.Join(parts, ", ") + "."
	}
	return msg
}

func hasLowerPriorityPod(n *nodeInfo, priority int32) bool {
	for _, p := range n.pods {
		if podPriority(p.pod) < priority {
			return true
		}
	}
	return false
}
