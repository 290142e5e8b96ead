package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/server/controllers"
)

// phaseOrder ranks phases for deletion: pending pods go first, then pods
// in an unknown state, running pods last.
var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// deletionOrder sorts pods so that the ones to delete first come first,
// as kube-controller-manager chooses them: unscheduled before scheduled,
// pending before unknown before running, not ready before ready, lower
// pod-deletion-cost first, pods on crowded nodes first, ready for a
// shorter time first, more container restarts first, newer first. Times
// are compared on a log2 scale relative to now, with the UID breaking
// ties, so equally old pods are picked in a spread-out order.
type deletionOrder struct {
	pods []*corev1.Pod
	// crowding is, per pod, how many active pods of the same owner family
	// share its node.
	crowding []int
	now      time.Time
}

func (s deletionOrder) Len() int { return len(s.pods) }

func (s deletionOrder) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.crowding[i], s.crowding[j] = s.crowding[j], s.crowding[i]
}

func (s deletionOrder) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrder[a.Status.Phase], phaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	readyA, readyB := controllers.IsPodReady(a), controllers.IsPodReady(b)
	if readyA != readyB {
		return !readyA
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if s.crowding[i] != s.crowding[j] {
		return s.crowding[i] > s.crowding[j]
	}
	if readyA && readyB {
		ta, tb := controllers.PodReadyCondition(a).LastTransitionTime, controllers.PodReadyCondition(b).LastTransitionTime
		if !ta.Equal(&tb) {
			if less, decided := s.newerFirst(a, b, ta, tb); decided {
				return less
			}
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if sa, sb := sidecarRestarts(a), sidecarRestarts(b); sa != sb {
		return sa > sb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if less, decided := s.newerFirst(a, b, a.CreationTimestamp, b.CreationTimestamp); decided {
			return less
		}
	}
	return false
}

// newerFirst compares two different times of pods a and b: the more recent
// (or unset) one goes first. On the log2 scale equal ranks fall back to
// the UIDs.
func (s deletionOrder) newerFirst(a, b *corev1.Pod, ta, tb metav1.Time) (less, decided bool) {
	if s.now.IsZero() || ta.IsZero() || tb.IsZero() {
		return afterOrUnset(ta, tb), true
	}
	diff := log2Age(ta.Time, s.now) - log2Age(tb.Time, s.now)
	if diff == 0 {
		return a.UID < b.UID, true
	}
	return diff < 0, true
}

// afterOrUnset tells whether a is later than b, an unset time counting as
// the latest of all.
func afterOrUnset(a, b metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

func log2Age(t, now time.Time) int64 {
	d := now.Sub(t)
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

// deletionCost reads the controller.kubernetes.io/pod-deletion-cost
// annotation; a missing or malformed value costs 0.
func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[corev1.PodDeletionCost]
	// Like the API's validation: no plus sign, no leading zeros.
	if !ok || v == "" || !(v[0] == '-' || v == "0" || (v[0] >= '1' && v[0] <= '9')) {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, c := range p.Status.ContainerStatuses {
		m = max(m, c.RestartCount)
	}
	return m
}

// sidecarRestarts is the highest restart count of the pod's restartable
// init containers.
func sidecarRestarts(p *corev1.Pod) int32 {
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	var m int32
	for _, c := range p.Status.InitContainerStatuses {
		if sidecars[c.Name] {
			m = max(m, c.RestartCount)
		}
	}
	return m
}

// podsToDelete picks n of pods to delete, preferring those deletionOrder
// puts first. related are the pods of every ReplicaSet with the same
// owner: a pod sharing its node with many of them is a better pick.
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range related {
		if controllers.IsPodActive(p) {
			perNode[p.Spec.NodeName]++
		}
	}
	order := deletionOrder{pods: append([]*corev1.Pod(nil), pods...), crowding: make([]int, len(pods)), now: now}
	for i, p := range order.pods {
		order.crowding[i] = perNode[p.Spec.NodeName]
	}
	sort.Sort(order)
	return order.pods[:n]
}
