package controllers_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
	"kite/server/controllers/replicaset"
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

// TestIntegrationTwoControllerManagers: two controller managers, each
// running the ReplicaSet controller behind the same Lease, never both act
// (a ReplicaSet never gets more pods than it asks for, as two acting
// controllers would create), and the standby takes over when the leader
// stops.
func TestIntegrationTwoControllerManagers(t *testing.T) {
	s := servertest.Start(t)
	timing := controllers.LeaderElection{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond}
	manager := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		cc, err := controllers.NewContext(ctx, s.Config)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			controllers.Lead(ctx, cc.Client, "kube-controller-manager", timing, func(term context.Context) {
				cc.Run(term, replicaset.New(cc))
			})
		}()
		return func() { cancel(); <-done }
	}
	ctx := context.Background()
	stopFirst := manager()
	waitFor(t, "the first manager to lead", func() bool {
		lease, err := s.Client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
		return err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
	})
	stopSecond := manager()
	defer stopSecond()

	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.local/web:1"}}},
			},
		},
	}
	if _, err := s.Client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := func() int {
		list, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	waitFor(t, "5 pods", func() bool { return pods() == 5 })
	time.Sleep(time.Second) // a second acting manager would overshoot by now
	if n := pods(); n != 5 {
		t.Fatalf("%d pods for a ReplicaSet of 5: both managers acted", n)
	}

	lease, err := s.Client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder := *lease.Spec.HolderIdentity
	stopFirst() // the leader: the standby must take over
	if _, err := s.Client.AppsV1().ReplicaSets("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":8}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "8 pods from the remaining manager", func() bool { return pods() == 8 })
	lease, err = s.Client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *lease.Spec.HolderIdentity == holder {
		t.Errorf("lease still held by the stopped manager %s", holder)
	}
}
