package scheduler

import (
	"container/heap"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"
)

// Upstream's queue timings.
const (
	initialBackoff = 1 * time.Second
	maxBackoff     = 10 * time.Second
	// maxParked is how long an unschedulable pod waits for a cluster
	// event before it is tried again anyway.
	maxParked = 5 * time.Minute
)

// Where a pod waits.
const (
	inActive        = iota // ready to be tried, ordered by priority then arrival
	inBackoff              // failed recently; tried again when its backoff ends
	inParked               // unschedulable; waits for a cluster change that may help
	inGated                // has scheduling gates; waits for them to be removed
	inFlight               // being scheduled now
	inFlightDropped        // deleted or bound by someone else while being scheduled
)

// queuedPod is a pending pod and its scheduling history.
type queuedPod struct {
	pod          *corev1.Pod
	key          string
	state        int
	heapIndex    int
	timestamp    time.Time // when it last entered the queue: the tie-breaker among equal priorities
	attempts     int
	backoffUntil time.Time
	parkedAt     time.Time
	rejectors    rejectors // what made the last attempt fail
	cycle        int64     // the scheduling cycle of its last attempt
	updated      bool      // the pod changed while it was being scheduled
}

// queue holds the pods waiting for a node: an active heap, a backoff heap
// and a set of parked (unschedulable) pods, like upstream's scheduling
// queue. Safe for concurrent use.
type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     func() time.Time
	pods    map[string]*queuedPod
	active  podHeap
	backoff podHeap
	parked  map[string]*queuedPod
	// parkedBy counts parked pods per rejector, to skip scanning the
	// parked set for events that can help none of them.
	parkedBy [numRejectors]int
	cycle    int64 // attempts started so far
	// movedAt is, per rejector, the cycle during which the last cluster
	// change that may help pods it refused was seen: a pod whose attempt
	// started before then is retried rather than parked, since its
	// failure may be stale.
	movedAt [numRejectors]int64
	closed  bool
	wake    chan struct{} // tells the timer loop that deadlines changed
}

func newQueue(now func() time.Time) *queue {
	q := &queue{now: now, pods: map[string]*queuedPod{}, parked: map[string]*queuedPod{}, wake: make(chan struct{}, 1)}
	q.cond = sync.NewCond(&q.mu)
	q.active.less = func(a, b *queuedPod) bool {
		pa, pb := podPriority(a.pod), podPriority(b.pod)
		if pa != pb {
			return pa > pb
		}
		return a.timestamp.Before(b.timestamp)
	}
	q.backoff.less = func(a, b *queuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }
	return q
}

func podKey(pod *corev1.Pod) string {
	key, _ := cache.MetaNamespaceKeyFunc(pod)
	return key
}

// add queues a new pending pod (or updates one already known).
func (q *queue) add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(pod)
}

func (q *queue) addLocked(pod *corev1.Pod) {
	key := podKey(pod)
	if qp := q.pods[key]; qp != nil {
		q.updateLocked(qp, pod)
		return
	}
	qp := &queuedPod{pod: pod, key: key, timestamp: q.now()}
	q.pods[key] = qp
	if len(pod.Spec.SchedulingGates) > 0 {
		qp.state = inGated
		return
	}
	q.toActiveLocked(qp)
}

// update replaces a pending pod's object. A parked pod whose spec or
// labels changed may fit now, so it is tried again.
func (q *queue) update(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[podKey(pod)]
	if qp == nil {
		q.addLocked(pod)
		return
	}
	q.updateLocked(qp, pod)
}

func (q *queue) updateLocked(qp *queuedPod, pod *corev1.Pod) {
	old := qp.pod
	qp.pod = pod
	changed := old.UID != pod.UID || schedulingInputsChanged(old, pod)
	switch qp.state {
	case inActive:
		heap.Fix(&q.active, qp.heapIndex) // priority may have changed
	case inFlight:
		qp.updated = qp.updated || changed
	case inGated:
		if len(pod.Spec.SchedulingGates) == 0 {
			q.toActiveLocked(qp)
		}
	case inParked:
		if changed {
			q.unparkLocked(qp)
		}
	}
}

// schedulingInputsChanged tells whether an update may change where the pod
// fits: its spec or labels (status updates, including our own condition,
// do not).
func schedulingInputsChanged(old, cur *corev1.Pod) bool {
	return !equality.Semantic.DeepEqual(old.Labels, cur.Labels) || !equality.Semantic.DeepEqual(&old.Spec, &cur.Spec)
}

// remove forgets a pod that was deleted or assigned elsewhere.
func (q *queue) remove(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[podKey(pod)]
	if qp == nil || qp.pod.UID != pod.UID {
		return
	}
	q.takeOutLocked(qp)
	if qp.state == inFlight {
		qp.state = inFlightDropped
	}
	delete(q.pods, qp.key)
}

// pop waits for the highest-priority active pod and marks it in flight;
// it returns the pod object as of now, or nil once the queue is closed.
func (q *queue) pop() (*queuedPod, *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, nil
	}
	qp := heap.Pop(&q.active).(*queuedPod)
	qp.state = inFlight
	qp.updated = false
	q.cycle++
	qp.cycle = q.cycle
	return qp, qp.pod
}

// done ends the attempt of a pod that was placed on a node.
func (q *queue) done(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.key] == qp {
		delete(q.pods, qp.key)
	}
}

// requeue ends a failed attempt. Unschedulable pods are parked until a
// cluster change in one of rejectedBy may help, unless such a change
// already happened during the attempt; pods that failed for another
// reason (an API error) just back off.
func (q *queue) requeue(qp *queuedPod, rejectedBy rejectors, unschedulable bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp.state == inFlightDropped || q.pods[qp.key] != qp {
		return
	}
	now := q.now()
	qp.attempts++
	qp.timestamp = now
	qp.backoffUntil = now.Add(backoffFor(qp.attempts))
	qp.rejectors = rejectedBy
	switch {
	case len(qp.pod.Spec.SchedulingGates) > 0:
		qp.state = inGated
	case !unschedulable || qp.updated || q.changedSince(rejectedBy, qp.cycle):
		q.toBackoffLocked(qp)
	default:
		qp.state = inParked
		qp.parkedAt = now
		q.parked[qp.key] = qp
		qp.rejectors.each(func(i int) { q.parkedBy[i]++ })
		q.poke()
	}
}

// backoffFor is 1 s after the first failure, doubling up to 10 s.
func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts; i++ {
		if d >= maxBackoff/2 {
			return maxBackoff
		}
		d *= 2
	}
	return d
}

// clusterChanged moves the parked pods that one of the given rejectors
// turned away back to be tried (after their backoff).
func (q *queue) clusterChanged(helps rejectors) {
	q.mu.Lock()
	defer q.mu.Unlock()
	helps.each(func(i int) { q.movedAt[i] = q.cycle })
	waiting := false
	helps.each(func(i int) { waiting = waiting || q.parkedBy[i] > 0 })
	if !waiting {
		return
	}
	for _, qp := range q.parked {
		if qp.rejectors&helps != 0 {
			q.unparkLocked(qp)
		}
	}
}

// changedSince tells whether a change that may help one of the rejectors
// was seen during or after the given cycle.
func (q *queue) changedSince(rejectedBy rejectors, cycle int64) bool {
	changed := false
	rejectedBy.each(func(i int) { changed = changed || q.movedAt[i] >= cycle })
	return changed
}

// flush moves pods whose backoff has ended to the active heap and pods
// parked for too long back to be tried; it returns when to call it next
// (zero if nothing waits).
func (q *queue) flush() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for len(q.backoff.items) > 0 && !q.backoff.items[0].backoffUntil.After(now) {
		qp := heap.Pop(&q.backoff).(*queuedPod)
		q.toActiveLocked(qp)
	}
	var next time.Time
	for _, qp := range q.parked {
		deadline := qp.parkedAt.Add(maxParked)
		if !deadline.After(now) {
			q.unparkLocked(qp)
		} else if next.IsZero() || deadline.Before(next) {
			next = deadline
		}
	}
	if len(q.backoff.items) > 0 {
		if b := q.backoff.items[0].backoffUntil; next.IsZero() || b.Before(next) {
			next = b
		}
	}
	return next
}

// runTimers calls flush whenever a deadline passes, until the queue closes.
func (q *queue) runTimers(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := q.flush()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(q.now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-done:
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

func (q *queue) unparkLocked(qp *queuedPod) {
	q.takeOutLocked(qp)
	if qp.backoffUntil.After(q.now()) {
		q.toBackoffLocked(qp)
	} else {
		q.toActiveLocked(qp)
	}
}

func (q *queue) toActiveLocked(qp *queuedPod) {
	qp.state = inActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

func (q *queue) toBackoffLocked(qp *queuedPod) {
	qp.state = inBackoff
	heap.Push(&q.backoff, qp)
	q.poke()
}

// takeOutLocked removes a pod from whichever heap or set holds it.
func (q *queue) takeOutLocked(qp *queuedPod) {
	switch qp.state {
	case inActive:
		heap.Remove(&q.active, qp.heapIndex)
	case inBackoff:
		heap.Remove(&q.backoff, qp.heapIndex)
	case inParked:
		delete(q.parked, qp.key)
		qp.rejectors.each(func(i int) { q.parkedBy[i]-- })
	}
}

func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pending counts the pods in each place, for tests and logs.
func (q *queue) pending() (active, backoff, parked int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active.items), len(q.backoff.items), len(q.parked)
}

// podHeap is a binary heap of queued pods under a given order.
type podHeap struct {
	items []*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].heapIndex = i
	h.items[j].heapIndex = j
}
func (h *podHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.heapIndex = len(h.items)
	h.items = append(h.items, qp)
}
func (h *podHeap) Pop() any {
	last := len(h.items) - 1
	qp := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	return qp
}
