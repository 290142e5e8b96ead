package controllers

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElection is the timing of the Leases that pick the one server
// whose controllers (and, separately, scheduler) act.
type LeaderElection struct {
	LeaseDuration time.Duration // a standby takes over this long after the last renewal
	RenewDeadline time.Duration // the leader gives up if it cannot renew within this
	RetryPeriod   time.Duration // how often candidates try and the leader renews
}

// DefaultLeaderElection is kube-scheduler's and kube-controller-manager's.
var DefaultLeaderElection = LeaderElection{LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}

// Lead runs term for as long as this process holds the Lease
// kube-system/<name>, and competes for it again whenever it is lost, until
// ctx ends. Terms never overlap: a new one starts only after the previous
// term has returned.
func Lead(ctx context.Context, client kubernetes.Interface, name string, timing LeaderElection, term func(ctx context.Context)) {
	log := slog.Default().With("component", "leader-election", "lease", name)
	identity := hostname() + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	// Held for the whole of a term, so that a term won again right after a
	// loss waits for the previous one to wind down.
	var termMu sync.Mutex
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			Name:            name,
			LeaseDuration:   timing.LeaseDuration,
			RenewDeadline:   timing.RenewDeadline,
			RetryPeriod:     timing.RetryPeriod,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					termMu.Lock()
					defer termMu.Unlock()
					if ctx.Err() != nil {
						return
					}
					log.Info("became leader", "identity", identity)
					term(ctx)
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil {
						log.Warn("lost leadership; standing by")
					}
				},
				OnNewLeader: func(holder string) {
					if holder != identity {
						log.Info("standing by", "leader", holder)
					}
				},
			},
		})
		if err != nil {
			log.Error("bad leader election settings", "err", err)
			return
		}
		elector.Run(ctx) // returns when leadership is lost or ctx ends
	}
	// Return only after the last term has.
	termMu.Lock()
	defer termMu.Unlock()
}

func hostname() string {
	name, err := os.Hostname()
	if err != nil {
		return "kite"
	}
	return name
}
