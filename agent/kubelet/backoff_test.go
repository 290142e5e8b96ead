package kubelet

import (
	"testing"
	"time"
)

func TestBackoffDoublesToMaxAndResets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBackoff(10*time.Second, 5*time.Minute, func() time.Time { return now })
	const key = "uid/c"

	if in, _ := b.inBackOffSince(key, now); in {
		t.Fatal("a key never failed must not be in back-off")
	}
	steps := []struct {
		advance   time.Duration // time between the exit and the check
		wantDelay time.Duration // delay after next()
	}{
		{0, 10 * time.Second},
		{10 * time.Second, 20 * time.Second},
		{20 * time.Second, 40 * time.Second},
		{40 * time.Second, 80 * time.Second},
		{80 * time.Second, 160 * time.Second},
		{160 * time.Second, 5 * time.Minute},
		{5 * time.Minute, 5 * time.Minute},
	}
	for i, s := range steps {
		exit := now
		now = now.Add(s.advance)
		if in, _ := b.inBackOffSince(key, exit); in {
			t.Fatalf("step %d: still in back-off after waiting %v", i, s.advance)
		}
		b.next(key, exit)
		if got := b.delay(key); got != s.wantDelay {
			t.Fatalf("step %d: delay %v, want %v", i, got, s.wantDelay)
		}
		// An exit right after the restart is held back by the delay.
		if in, left := b.inBackOffSince(key, now); !in || left != s.wantDelay {
			t.Fatalf("step %d: inBackOffSince = %v, %v; want true, %v", i, in, left, s.wantDelay)
		}
	}

	// A container that ran for more than ten minutes starts over at 10 s.
	now = now.Add(11 * time.Minute)
	if in, _ := b.inBackOffSince(key, now); in {
		t.Fatal("back-off must be expired after a long run")
	}
	b.next(key, now)
	if got := b.delay(key); got != 10*time.Second {
		t.Fatalf("delay after a long run = %v, want 10s", got)
	}
}

func TestBackoffSinceUpdateAndForget(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBackoff(10*time.Second, time.Minute, func() time.Time { return now })
	b.next("pod-a/img", now)
	b.next("pod-b/img", now)
	if in, left := b.inBackOffSinceUpdate("pod-a/img"); !in || left != 10*time.Second {
		t.Fatalf("inBackOffSinceUpdate = %v, %v; want true, 10s", in, left)
	}
	now = now.Add(11 * time.Second)
	if in, _ := b.inBackOffSinceUpdate("pod-a/img"); in {
		t.Fatal("back-off must end after its delay")
	}
	b.forgetPrefix("pod-a/")
	if b.delay("pod-a/img") != 0 || b.delay("pod-b/img") == 0 {
		t.Fatal("forgetPrefix must drop exactly the pod's keys")
	}
	now = now.Add(3 * time.Minute)
	b.gc()
	if b.delay("pod-b/img") != 0 {
		t.Fatal("gc must drop idle entries")
	}
}
