package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func readyPod(ready corev1.ConditionStatus, since time.Time) *corev1.Pod {
	return &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.NewTime(since)},
	}}}
}

func TestIsPodAvailable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		minReady int32
		want     bool
	}{
		{"not ready", readyPod(corev1.ConditionFalse, now.Add(-time.Hour)), 0, false},
		{"no Ready condition", &corev1.Pod{}, 0, false},
		{"ready, no minimum", readyPod(corev1.ConditionTrue, now), 0, true},
		{"ready for less than the minimum", readyPod(corev1.ConditionTrue, now.Add(-9*time.Second)), 10, false},
		// Upstream's rule: available once exactly minReadySeconds have passed.
		{"ready for exactly the minimum", readyPod(corev1.ConditionTrue, now.Add(-10*time.Second)), 10, true},
		{"ready since an unknown time", readyPod(corev1.ConditionTrue, time.Time{}), 10, false},
	} {
		if got := IsPodAvailable(tc.pod, tc.minReady, now); got != tc.want {
			t.Errorf("%s: available %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUntilAvailable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pods := []*corev1.Pod{
		readyPod(corev1.ConditionTrue, now.Add(-time.Hour)),       // available already
		readyPod(corev1.ConditionTrue, now.Add(-50*time.Second)),  // in 10 s
		readyPod(corev1.ConditionTrue, now.Add(-30*time.Second)),  // in 30 s
		readyPod(corev1.ConditionFalse, now.Add(-55*time.Second)), // not ready: never on its own
		readyPod(corev1.ConditionTrue, time.Time{}),               // unknown since when
	}
	if d, ok := UntilAvailable(pods, 60, now); !ok || d != 10*time.Second {
		t.Errorf("next availability in %v (%v), want 10s", d, ok)
	}
	if _, ok := UntilAvailable(pods[:1], 60, now); ok {
		t.Error("a wait reported with every ready pod available")
	}
	if _, ok := UntilAvailable(pods, 0, now); ok {
		t.Error("a wait reported without minReadySeconds")
	}
}

func TestPodStates(t *testing.T) {
	deleting := metav1.Now()
	for _, tc := range []struct {
		phase                         corev1.PodPhase
		deleting                      bool
		terminal, active, terminating bool
	}{
		{corev1.PodRunning, false, false, true, false},
		{corev1.PodPending, true, false, false, true},
		{corev1.PodSucceeded, false, true, false, false},
		{corev1.PodFailed, true, true, false, false},
	} {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: tc.phase}}
		if tc.deleting {
			p.DeletionTimestamp = &deleting
		}
		if IsPodTerminal(p) != tc.terminal || IsPodActive(p) != tc.active || IsPodTerminating(p) != tc.terminating {
			t.Errorf("%s (deleting %v): terminal %v active %v terminating %v", tc.phase, tc.deleting, IsPodTerminal(p), IsPodActive(p), IsPodTerminating(p))
		}
	}
}
