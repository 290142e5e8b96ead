package job

import (
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Upstream's delay before replacing failed pods: 10 s after the first
// failure since the last success, doubling with every further failure, at
// most 10 minutes.
const (
	defaultPodFailureBackoff = 10 * time.Second
	maxPodFailureBackoff     = 10 * time.Minute
)

// backoffRecord is what the controller remembers of a Job's recent pod
// failures: how many pods failed since the last success and when the
// last of them finished.
type backoffRecord struct {
	failuresSinceSuccess int32
	lastFailure          time.Time
}

// backoffStore keeps the backoff record of every Job, by key. It lives in
// memory only, as upstream's: after a restart failed pods are replaced
// without delay.
type backoffStore struct {
	mu      sync.Mutex
	records map[string]backoffRecord
}

func newBackoffStore() *backoffStore {
	return &backoffStore{records: map[string]backoffRecord{}}
}

func (s *backoffStore) get(key string) backoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[key]
}

func (s *backoffStore) set(key string, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = r
}

func (s *backoffStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
}

// next folds newly finished pods into r: a success resets the count, and
// only failures that finished after the latest success count.
func (r backoffRecord) next(succeeded, failed []*corev1.Pod) backoffRecord {
	byFinish := func(pods []*corev1.Pod) []time.Time {
		ts := make([]time.Time, 0, len(pods))
		for _, p := range pods {
			ts = append(ts, podFinishTime(p))
		}
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		return ts
	}
	failures := byFinish(failed)
	if len(succeeded) == 0 {
		if len(failures) == 0 {
			return r
		}
		return backoffRecord{failuresSinceSuccess: r.failuresSinceSuccess + int32(len(failures)), lastFailure: failures[len(failures)-1]}
	}
	successes := byFinish(succeeded)
	lastSuccess := successes[len(successes)-1]
	out := backoffRecord{}
	for i := len(failures) - 1; i >= 0 && failures[i].After(lastSuccess); i-- {
		if out.failuresSinceSuccess == 0 {
			out.lastFailure = failures[i]
		}
		out.failuresSinceSuccess++
	}
	return out
}

// remaining is how long pod creation must still wait.
func (r backoffRecord) remaining(clk clock.PassiveClock, base, limit time.Duration) time.Duration {
	if r.failuresSinceSuccess == 0 {
		return 0
	}
	delay := base
	for i := int32(1); i < r.failuresSinceSuccess && delay < limit; i++ {
		delay *= 2
	}
	delay = min(delay, limit)
	if elapsed := clk.Since(r.lastFailure); elapsed < delay {
		return delay - elapsed
	}
	return 0
}

// podFinishTime is the best guess of when a pod finished: the latest
// container termination, else when it stopped being ready, else when its
// deletion was asked for, else its creation.
func podFinishTime(p *corev1.Pod) time.Time {
	if t, ok := containersFinishTime(p); ok {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		grace := time.Duration(0)
		if p.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
		}
		return p.DeletionTimestamp.Add(-grace)
	}
	return p.CreationTimestamp.Time
}

// containersFinishTime is the latest finish of the pod's containers and
// sidecars, if all of them have terminated.
func containersFinishTime(p *corev1.Pod) (time.Time, bool) {
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	statuses := slices.Clone(p.Status.ContainerStatuses)
	for _, s := range p.Status.InitContainerStatuses {
		if sidecars[s.Name] {
			statuses = append(statuses, s)
		}
	}
	var latest time.Time
	for _, s := range statuses {
		if s.State.Terminated == nil || s.State.Terminated.FinishedAt.IsZero() {
			return time.Time{}, false
		}
		if t := s.State.Terminated.FinishedAt.Time; t.After(latest) {
			latest = t
		}
	}
	return latest, !latest.IsZero()
}
