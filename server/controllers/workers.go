// Package controllers holds what every controller in server/controllers
// shares: the worker loop over a rate-limited workqueue.
package controllers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// RetryAfter is returned by a sync function to look at a key again after a
// while without counting it as a failure (waiting for something else to
// happen, such as pods finishing their graceful termination).
type RetryAfter time.Duration

func (r RetryAfter) Error() string { return "retry after " + time.Duration(r).String() }

// RunWorkers processes keys from queue with sync, on the given number of
// goroutines, until ctx ends; then it shuts the queue down. Failed keys are
// retried with the queue's rate limiter.
func RunWorkers[K comparable](ctx context.Context, queue workqueue.TypedRateLimitingInterface[K], workers int, sync func(context.Context, K) error, log *slog.Logger) {
	defer queue.ShutDown()
	for i := 0; i < workers; i++ {
		go func() {
			for processNext(ctx, queue, sync, log) {
			}
		}()
	}
	<-ctx.Done()
}

func processNext[K comparable](ctx context.Context, queue workqueue.TypedRateLimitingInterface[K], sync func(context.Context, K) error, log *slog.Logger) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	err := sync(ctx, key)
	var later RetryAfter
	switch {
	case err == nil:
		queue.Forget(key)
	case errors.As(err, &later):
		queue.Forget(key)
		queue.AddAfter(key, time.Duration(later))
	default:
		log.Warn("will retry", "key", key, "err", err)
		queue.AddRateLimited(key)
	}
	return true
}
