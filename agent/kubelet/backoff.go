package kubelet

import (
	"strings"
	"sync"
	"time"
)

// backoff tracks an exponential delay per key: crash restarts (10 s doubling
// to 5 min) and image pulls. An entry that has not been bumped for twice the
// maximum starts again from the initial delay, so a container that ran for
// ten minutes before failing is restarted after 10 s again.
type backoff struct {
	initial, max time.Duration
	now          func() time.Time

	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay      time.Duration
	lastUpdate time.Time
}

func newBackoff(initial, max time.Duration, now func() time.Time) *backoff {
	if now == nil {
		now = time.Now
	}
	return &backoff{initial: initial, max: max, now: now, entries: map[string]*backoffEntry{}}
}

// delay is the current delay of key (0 when it has none).
func (b *backoff) delay(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[key]; e != nil {
		return e.delay
	}
	return 0
}

// inBackOffSince reports whether less than the current delay has passed
// since eventTime (e.g. the container's exit), and how long is left.
func (b *backoff) inBackOffSince(key string, eventTime time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil || b.expired(e, eventTime) {
		return false, 0
	}
	left := e.delay - b.now().Sub(eventTime)
	return left > 0, left
}

// inBackOffSinceUpdate reports whether less than the current delay has
// passed since the last next() of key.
func (b *backoff) inBackOffSinceUpdate(key string) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil {
		return false, 0
	}
	left := e.delay - b.now().Sub(e.lastUpdate)
	return left > 0, left
}

// next records another failure at eventTime and doubles the delay (or
// starts it at the initial delay).
func (b *backoff) next(key string, eventTime time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	switch {
	case e == nil || b.expired(e, eventTime):
		b.entries[key] = &backoffEntry{delay: b.initial, lastUpdate: b.now()}
		return
	default:
		e.delay = min(2*e.delay, b.max)
		e.lastUpdate = b.now()
	}
}

// expired: nothing failed for twice the maximum delay before eventTime.
func (b *backoff) expired(e *backoffEntry, eventTime time.Time) bool {
	return eventTime.Sub(e.lastUpdate) > 2*b.max
}

// forgetPrefix drops every key that starts with prefix (a pod's UID).
func (b *backoff) forgetPrefix(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if strings.HasPrefix(k, prefix) {
			delete(b.entries, k)
		}
	}
}

// gc drops entries idle for twice the maximum delay.
func (b *backoff) gc() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for k, e := range b.entries {
		if now.Sub(e.lastUpdate) > 2*b.max {
			delete(b.entries, k)
		}
	}
}
