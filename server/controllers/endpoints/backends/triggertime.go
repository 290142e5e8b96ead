package backends

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"kite/server/controllers"
)

// TriggerTimes computes the endpoints.kubernetes.io/last-change-trigger-time
// of a Service's endpoints: the earliest of the changes that made this
// sync necessary, where a change is a pod's readiness transition or the
// Service's creation. Each controller keeps its own, since it remembers
// what that controller has already published.
type TriggerTimes struct {
	mu    sync.Mutex
	known map[string]triggerState // by Service key
}

type triggerState struct {
	service time.Time            // the Service's creation time
	pods    map[string]time.Time // pod name -> Ready transition time
}

// NewTriggerTimes returns an empty tracker.
func NewTriggerTimes() *TriggerTimes {
	return &TriggerTimes{known: map[string]triggerState{}}
}

// Observe returns the trigger time to publish for the current pods of the
// Service with the given key: the Service's creation time the first time
// a Service is seen, then the earliest trigger newer than what was
// published last time, or the zero time when nothing new triggered. The
// returned function records these pods as published; call it once the
// sync has succeeded (written or found up to date), so a sync that fails
// or retries keeps its trigger for the next attempt.
func (t *TriggerTimes) Observe(key string, svc *corev1.Service, pods []*corev1.Pod) (time.Time, func()) {
	t.mu.Lock()
	last, seen := t.known[key]
	t.mu.Unlock()

	var earliest time.Time
	consider := func(at time.Time) {
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	now := triggerState{service: svc.CreationTimestamp.Time, pods: make(map[string]time.Time, len(pods))}
	for _, pod := range pods {
		c := controllers.PodReadyCondition(pod)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		at := c.LastTransitionTime.Time
		now.pods[pod.Name] = at
		if at.After(last.pods[pod.Name]) {
			consider(at)
		}
	}
	if now.service.After(last.service) {
		consider(now.service)
	}

	published := func() {
		t.mu.Lock()
		t.known[key] = now
		t.mu.Unlock()
	}
	if !seen {
		return svc.CreationTimestamp.Time, published
	}
	return earliest, published
}

// Forget drops what is known about a deleted Service.
func (t *TriggerTimes) Forget(key string) {
	t.mu.Lock()
	delete(t.known, key)
	t.mu.Unlock()
}

// SetTriggerTime writes the trigger-time annotation into annotations
// (returning the possibly new map), or removes it when at is zero.
func SetTriggerTime(annotations map[string]string, at time.Time) map[string]string {
	if at.IsZero() {
		delete(annotations, corev1.EndpointsLastChangeTriggerTime)
		return annotations
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[corev1.EndpointsLastChangeTriggerTime] = at.UTC().Format(time.RFC3339Nano)
	return annotations
}
