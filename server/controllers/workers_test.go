package controllers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// TestRunWorkers: a key is synced until it succeeds, through a failure (rate
// limited retry) and a RetryAfter.
func TestRunWorkers(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
	var mu sync.Mutex
	var calls []string
	done := make(chan struct{})
	sync := func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, key)
		switch len(calls) {
		case 1:
			return errors.New("boom")
		case 2:
			return RetryAfter(5 * time.Millisecond)
		}
		close(done)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go RunWorkers(ctx, q, 1, sync, slog.Default())
	q.Add("k")
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("key not synced to success; calls %v", calls)
	}
	// The success is recorded (Forget) just after sync returns.
	for deadline := time.Now().Add(time.Second); q.NumRequeues("k") != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 3 || q.NumRequeues("k") != 0 {
		t.Fatalf("calls %v, requeues %d; want 3 calls and the key forgotten", calls, q.NumRequeues("k"))
	}
}
