package kubelet

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Wake-up intervals of a pod worker.
const (
	resyncInterval       = 30 * time.Second
	volumeRefresh        = 60 * time.Second
	finishedPodRecheck   = 2 * time.Minute
	workerRetryInitial   = time.Second
	workerRetryMax       = 30 * time.Second
	removedPodRetryDelay = 2 * time.Second
)

// waitingState is why a container has no running instance, kept by the
// worker between syncs (pull errors, back-off, config errors).
type waitingState struct {
	Reason  string
	Message string
}

// podWorker serialises everything the kubelet does to one pod: one
// goroutine per pod UID, woken by pod updates, runtime changes and probe
// results, and by its own timer.
type podWorker struct {
	uid  types.UID
	wake chan struct{}

	// Owned by the worker goroutine.
	lastPod      *v1.Pod
	waiting      map[string]waitingState
	pullErrors   map[string]string // last pull error per pod/image back-off key
	termMessages map[string]string // termination message per exited container ID
	volumesSetAt time.Time
	volumesRV    string
	lastStatus   *v1.PodStatus
	failure      *podFailure // set when the kubelet fails the pod itself
	finished     bool        // terminal pod whose containers are stopped
	terminated   bool        // deleted pod whose runtime state is gone
	retryDelay   time.Duration
}

func newPodWorker(uid types.UID) *podWorker {
	return &podWorker{uid: uid, wake: make(chan struct{}, 1), waiting: map[string]waitingState{}, pullErrors: map[string]string{}, termMessages: map[string]string{}}
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// podUpdated records the desired state of a pod and wakes its worker.
func (k *Kubelet) podUpdated(pod *v1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pods[pod.UID] = pod
	k.ensureWorkerLocked(pod.UID).poke()
}

// podRemoved forgets the desired state; the worker kills what is left.
func (k *Kubelet) podRemoved(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.pods, uid)
	if w := k.workers[uid]; w != nil {
		w.poke()
	}
}

// wakePod wakes the worker of uid, if there is one.
func (k *Kubelet) wakePod(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if w := k.workers[uid]; w != nil {
		w.poke()
	}
}

func (k *Kubelet) ensureWorkerLocked(uid types.UID) *podWorker {
	if w := k.workers[uid]; w != nil {
		return w
	}
	w := newPodWorker(uid)
	k.workers[uid] = w
	if k.runCtx != nil {
		k.startWorkerLocked(w)
	}
	return w
}

func (k *Kubelet) startWorkerLocked(w *podWorker) {
	k.wg.Add(1)
	go k.runWorker(k.runCtx, w)
}

// desiredPod is the current desired state of uid.
func (k *Kubelet) desiredPod(uid types.UID) (*v1.Pod, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.pods[uid]
	return p, ok
}

// retireWorker removes a worker whose pod is gone, unless the pod came back
// meanwhile.
func (k *Kubelet) retireWorker(w *podWorker) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.pods[w.uid]; ok {
		return false
	}
	delete(k.workers, w.uid)
	return true
}

func (k *Kubelet) runWorker(ctx context.Context, w *podWorker) {
	defer k.wg.Done()
	for {
		var next time.Duration
		pod, exists := k.desiredPod(w.uid)
		if exists {
			w.lastPod = pod
			var err error
			next, err = k.syncPod(ctx, w, pod)
			next = w.afterSync(next, err)
			if err != nil && ctx.Err() == nil {
				k.log.Warn("pod sync failed", "pod", podFullName(pod), "err", err)
			}
		} else {
			err := k.syncRemovedPod(ctx, w)
			if err == nil {
				if k.retireWorker(w) {
					return
				}
				continue
			}
			if ctx.Err() == nil {
				k.log.Warn("cleaning up removed pod failed", "uid", w.uid, "err", err)
			}
			next = removedPodRetryDelay
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-w.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// afterSync picks the next wake-up: what the sync asked for, or a growing
// retry delay after errors.
func (w *podWorker) afterSync(next time.Duration, err error) time.Duration {
	if err == nil {
		w.retryDelay = 0
		if next <= 0 {
			return resyncInterval
		}
		return next
	}
	w.retryDelay = min(max(2*w.retryDelay, workerRetryInitial), workerRetryMax)
	if next > 0 && next < w.retryDelay {
		return next
	}
	return w.retryDelay
}

// terminationMessage reads an exited instance's message once; the files
// do not change after the exit.
func (w *podWorker) terminationMessage(k *Kubelet, pod *v1.Pod, spec *v1.Container, rc *runtimeContainer) string {
	if msg, ok := w.termMessages[rc.ID]; ok {
		return msg
	}
	msg := k.terminationMessage(pod, spec, rc)
	w.termMessages[rc.ID] = msg
	return msg
}

// setupVolumes creates or refreshes the pod's volumes when the pod changed
// and at least every volumeRefresh, so configMap and secret contents follow
// their sources.
func (k *Kubelet) setupVolumes(ctx context.Context, w *podWorker, pod *v1.Pod) error {
	if w.volumesRV == pod.ResourceVersion && time.Since(w.volumesSetAt) < volumeRefresh {
		return nil
	}
	if err := k.volumes.Setup(ctx, pod); err != nil {
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailedMount, "MountVolume.SetUp failed: %v", err)
		return fmt.Errorf("set up volumes of pod %s: %w", podFullName(pod), err)
	}
	w.volumesRV = pod.ResourceVersion
	w.volumesSetAt = time.Now()
	return nil
}
