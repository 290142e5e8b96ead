package controllers_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kite/server/controllers"
	"kite/server/servertest"
)

// TestIntegrationLeaderElection: of two candidates for one Lease only one
// runs its term at any moment, and when the leader stops the standby takes
// over.
func TestIntegrationLeaderElection(t *testing.T) {
	s := servertest.Start(t)
	timing := controllers.LeaderElection{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond}

	var active, maxActive atomic.Int32
	var mu sync.Mutex
	var leaders []string
	candidate := func(name string) (stop func()) {
		client, err := kubernetes.NewForConfig(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			controllers.Lead(ctx, client, "test-lease", timing, func(term context.Context) {
				n := active.Add(1)
				for {
					m := maxActive.Load()
					if n <= m || maxActive.CompareAndSwap(m, n) {
						break
					}
				}
				mu.Lock()
				leaders = append(leaders, name)
				mu.Unlock()
				<-term.Done()
				active.Add(-1)
			})
		}()
		return func() { cancel(); <-done }
	}
	stopA := candidate("a")
	stopB := candidate("b")
	defer stopB()

	waitFor(t, "a leader", func() bool { return active.Load() == 1 })
	mu.Lock()
	first := leaders[0]
	mu.Unlock()
	lease, err := s.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), "test-lease", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("lease %+v, err %v: want a holder", lease, err)
	}
	if first == "a" {
		stopA()
	} else {
		stopB() // stopping twice (again when the test ends) is harmless
		defer stopA()
	}
	waitFor(t, "the standby to take over", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(leaders) == 2 && active.Load() == 1
	})
	if leaders[1] == first {
		t.Errorf("leaders %v: the stopped candidate led again", leaders)
	}
	if m := maxActive.Load(); m != 1 {
		t.Errorf("%d terms ran at once, want 1", m)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
