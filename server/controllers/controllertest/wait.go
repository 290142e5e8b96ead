package controllertest

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Waits poll every pollInterval and give up after waitTimeout.
const (
	pollInterval = 50 * time.Millisecond
	waitTimeout  = 30 * time.Second
)

// Eventually polls cond until it holds; if it never does, the test fails
// with what cond said last.
func Eventually(t testing.TB, what string, cond func() (done bool, status string)) {
	t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), pollInterval, waitTimeout, true, func(context.Context) (bool, error) {
		ok, status := cond()
		last = status
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: timed out; last: %s", what, last)
	}
}

// WaitFor polls cond until it holds; the test fails if it never does, or
// as soon as cond returns an error.
func WaitFor(t testing.TB, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), pollInterval, waitTimeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
