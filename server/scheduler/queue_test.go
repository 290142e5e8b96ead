package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) step(d time.Duration) { c.t = c.t.Add(d) }
func newTestQueue() (*queue, *fakeClock) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	return newQueue(c.now), c
}
func withPriority(p int32) func(*corev1.Pod) { return func(pod *corev1.Pod) { pod.Spec.Priority = &p } }

func popName(t *testing.T, q *queue) (*queuedPod, string) {
	t.Helper()
	active, _, _ := q.pending()
	if active == 0 {
		t.Fatal("nothing active to pop")
	}
	qp, pod := q.pop()
	return qp, pod.Name
}

func TestQueueOrdersByPriorityThenArrival(t *testing.T) {
	q, clock := newTestQueue()
	for _, p := range []*corev1.Pod{
		testPod("low", "", "", withPriority(-10)),
		testPod("first", "", ""),
		testPod("high", "", "", withPriority(1000)),
		testPod("second", "", ""),
	} {
		q.add(p)
		clock.step(time.Millisecond)
	}
	for _, want := range []string{"high", "first", "second", "low"} {
		if _, got := popName(t, q); got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
	}
}

func TestBackoffFor(t *testing.T) {
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 20: 10 * time.Second} {
		if got := backoffFor(attempts); got != want {
			t.Errorf("backoffFor(%d) = %v, want %v", attempts, got, want)
		}
	}
}

func TestQueueParksUnschedulableUntilAHelpfulChange(t *testing.T) {
	q, clock := newTestQueue()
	q.add(testPod("cpu", "", ""))
	q.add(testPod("taint", "", ""))
	cpu, _ := popName(t, q)
	taint, _ := popName(t, q)
	q.requeue(cpu, byResources, true)
	q.requeue(taint, byTaints, true)
	if a, b, p := q.pending(); a != 0 || b != 0 || p != 2 {
		t.Fatalf("active %d backoff %d parked %d, want both parked", a, b, p)
	}

	q.clusterChanged(byNodeAffinity) // helps neither
	if _, _, p := q.pending(); p != 2 {
		t.Fatalf("an unrelated change moved pods: %d parked", p)
	}
	q.clusterChanged(byResources) // still backing off: to the backoff heap
	if a, b, p := q.pending(); a != 0 || b != 1 || p != 1 {
		t.Fatalf("after a resource change: active %d backoff %d parked %d", a, b, p)
	}
	if next := q.flush(); !next.Equal(clock.t.Add(time.Second)) {
		t.Errorf("next deadline %v, want the end of the 1 s backoff", next)
	}
	clock.step(time.Second)
	q.flush()
	if _, got := popName(t, q); got != "cpu" {
		t.Fatalf("popped %s", got)
	}

	clock.step(time.Minute) // taint's backoff is long over
	q.clusterChanged(byTaints)
	if a, _, _ := q.pending(); a != 1 {
		t.Fatal("a pod past its backoff should go straight to active")
	}
}

func TestQueueBackoffGrowsWithAttempts(t *testing.T) {
	q, clock := newTestQueue()
	q.add(testPod("p", "", ""))
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		qp, _ := popName(t, q)
		q.requeue(qp, 0, false) // an error: straight to backoff
		clock.step(want - time.Millisecond)
		q.flush()
		if a, b, _ := q.pending(); a != 0 || b != 1 {
			t.Fatalf("attempt %d: out of backoff before %v", attempt+1, want)
		}
		clock.step(time.Millisecond)
		q.flush()
		if a, _, _ := q.pending(); a != 1 {
			t.Fatalf("attempt %d: still backing off after %v", attempt+1, want)
		}
	}
}

func TestQueueFlushesLongParkedPods(t *testing.T) {
	q, clock := newTestQueue()
	q.add(testPod("p", "", ""))
	qp, _ := popName(t, q)
	q.requeue(qp, byResources, true)
	if next := q.flush(); !next.Equal(clock.t.Add(5 * time.Minute)) {
		t.Errorf("next deadline %v, want 5 min from now", next)
	}
	clock.step(5*time.Minute - time.Second)
	q.flush()
	if _, _, p := q.pending(); p != 1 {
		t.Fatal("flushed before 5 minutes")
	}
	clock.step(time.Second)
	q.flush()
	if a, _, p := q.pending(); a != 1 || p != 0 {
		t.Fatalf("after 5 minutes: active %d parked %d", a, p)
	}
}

func TestQueueRetriesWhenTheClusterChangedDuringTheAttempt(t *testing.T) {
	q, _ := newTestQueue()
	q.add(testPod("p", "", ""))
	q.add(testPod("q", "", ""))
	p, _ := popName(t, q)
	other, _ := popName(t, q)
	q.clusterChanged(byResources) // e.g. a pod finished while the filters ran
	q.requeue(p, byResources, true)
	if _, b, parked := q.pending(); b != 1 || parked != 0 {
		t.Fatalf("backoff %d parked %d: a pod whose failure may be stale must not be parked", b, parked)
	}
	q.requeue(other, byTaints, true)
	if _, _, parked := q.pending(); parked != 1 {
		t.Fatal("a change that cannot help the pod kept it from being parked")
	}
}

func TestQueueUpdatesAndDeletes(t *testing.T) {
	q, _ := newTestQueue()
	pod := testPod("p", "", "")
	q.add(pod)
	qp, _ := popName(t, q)
	q.requeue(qp, byNodeAffinity, true)

	status := pod.DeepCopy()
	status.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.update(status)
	if _, _, p := q.pending(); p != 1 {
		t.Fatal("a status update unparked the pod")
	}
	relabelled := status.DeepCopy()
	relabelled.Labels["tier"] = "web"
	q.update(relabelled)
	if _, b, p := q.pending(); b != 1 || p != 0 {
		t.Fatalf("a label change should retry the pod (backoff %d parked %d)", b, p)
	}

	q.remove(relabelled)
	if a, b, p := q.pending(); a+b+p != 0 || len(q.pods) != 0 {
		t.Fatal("removed pod still queued")
	}

	// Deleted while being scheduled: the failed attempt does not bring it back.
	gone := testPod("gone", "", "")
	q.add(gone)
	qp, _ = popName(t, q)
	q.remove(gone)
	q.requeue(qp, byResources, true)
	if a, b, p := q.pending(); a+b+p != 0 {
		t.Fatal("a pod deleted in flight came back")
	}

	// Changed while being scheduled: retried rather than parked.
	changing := testPod("changing", "", "")
	q.add(changing)
	qp, _ = popName(t, q)
	moved := changing.DeepCopy()
	moved.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	q.update(moved)
	q.requeue(qp, byNodeAffinity, true)
	if _, b, _ := q.pending(); b != 1 {
		t.Fatal("a pod updated in flight should be retried")
	}
}

func TestQueueHoldsGatedPods(t *testing.T) {
	q, _ := newTestQueue()
	gated := testPod("gated", "", "", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "wait"}} })
	q.add(gated)
	if a, b, p := q.pending(); a+b+p != 0 {
		t.Fatal("a gated pod is schedulable")
	}
	q.clusterChanged(anyRejector)
	if a, _, _ := q.pending(); a != 0 {
		t.Fatal("a cluster change released a gated pod")
	}
	open := gated.DeepCopy()
	open.Spec.SchedulingGates = nil
	q.update(open)
	if _, got := popName(t, q); got != "gated" {
		t.Fatal("ungated pod not active")
	}
}

func TestQueueCloseReleasesPop(t *testing.T) {
	q, _ := newTestQueue()
	done := make(chan bool)
	go func() {
		qp, _ := q.pop()
		done <- qp == nil
	}()
	q.close()
	select {
	case ok := <-done:
		if !ok {
			t.Error("pop returned a pod from an empty closed queue")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pop did not return after close")
	}
}
