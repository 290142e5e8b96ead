package kubelet

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// syncPod moves a pod one step toward its spec and reports its status.
// It returns when the worker should look again.
func (k *Kubelet) syncPod(ctx context.Context, w *podWorker, pod *v1.Pod) (time.Duration, error) {
	base := k.baseStatus(w, pod)
	left, hasDeadline := deadlineLeft(pod, base, time.Now())
	switch {
	case pod.DeletionTimestamp != nil:
		return k.syncTerminating(ctx, w, pod)
	case isTerminalPhase(base.Phase):
		return k.syncFinished(ctx, w, pod)
	case hasDeadline && left <= 0:
		return k.syncDeadlineExceeded(ctx, w, pod)
	}
	next, err := k.syncRunning(ctx, w, pod)
	if left, ok := deadlineLeft(pod, k.baseStatus(w, pod), time.Now()); ok && next > 0 {
		next = min(next, max(left, time.Millisecond))
	}
	return next, err
}

// syncRunning runs a pod that should be running: volumes, sandbox, init
// containers, app containers, restarts; then reports the status.
func (k *Kubelet) syncRunning(ctx context.Context, w *podWorker, pod *v1.Pod) (time.Duration, error) {
	next := resyncInterval
	if err := k.setupVolumes(ctx, w, pod); err != nil {
		k.reportStatus(ctx, w, pod, nil, false)
		return 0, err
	}
	next = min(next, time.Until(w.volumesSetAt.Add(volumeRefresh)))

	rp, err := k.readRuntimePod(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	sb, err := k.ensureSandbox(ctx, pod, rp)
	if err != nil {
		k.reportStatus(ctx, w, pod, nil, false)
		return 0, err
	}
	if sb == nil {
		// The sandbox died and restartPolicy Never forbids a new one.
		return k.reportStatus(ctx, w, pod, nil, false)
	}
	if rp, err = k.readRuntimePod(ctx, pod.UID); err != nil {
		return 0, err
	}
	var syncErr error
	for round := 0; round < 3; round++ {
		plan := planPod(pod, rp, sb.ID, k.probes)
		if len(plan.Kill) > 0 {
			k.runKills(ctx, pod, plan.Kill)
			if rp, err = k.readRuntimePod(ctx, pod.UID); err != nil {
				return 0, err
			}
			continue
		}
		for _, rc := range plan.Remove {
			if err := k.cfg.Runtime.RemoveContainer(ctx, rc.ID); err != nil && !isNotFound(err) {
				syncErr = errors.Join(syncErr, fmt.Errorf("remove unstarted container %s: %w", rc.ID, err))
			}
		}
		for _, st := range plan.Start {
			wait, err := k.startOrBackOff(ctx, w, pod, rp, sb, st)
			if err != nil && !errors.Is(err, errImageNotReady) {
				syncErr = errors.Join(syncErr, err)
			}
			if wait > 0 {
				next = min(next, wait)
			}
		}
		break
	}
	if rp, err = k.readRuntimePod(ctx, pod.UID); err != nil {
		return 0, err
	}
	k.removeDeadInstances(ctx, rp, sb.ID)
	k.probes.sync(pod, rp, sb)
	wait, err := k.reportStatus(ctx, w, pod, &reportedSandbox{state: sb, runtime: rp}, false)
	if err != nil {
		syncErr = errors.Join(syncErr, err)
	}
	if wait > 0 {
		next = min(next, wait)
	}
	return next, syncErr
}

// startOrBackOff restarts a container unless its crash back-off holds it,
// in which case it reports CrashLoopBackOff and when to look again.
func (k *Kubelet) startOrBackOff(ctx context.Context, w *podWorker, pod *v1.Pod, rp *runtimePod, sb *sandboxState, st startRequest) (time.Duration, error) {
	key := string(pod.UID) + "/" + st.Spec.Name
	if prev := st.Previous; prev != nil && prev.exited() {
		if in, left := k.crashBackoff.inBackOffSince(key, prev.FinishedAt); in {
			w.waiting[st.Spec.Name] = waitingState{
				Reason: waitingCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s",
					k.crashBackoff.delay(key), st.Spec.Name, podFullName(pod)),
			}
			k.recorder.Eventf(pod, v1.EventTypeWarning, reasonBackOff, "Back-off restarting failed container %s in pod %s",
				st.Spec.Name, podFullName(pod))
			return left, nil
		}
		k.crashBackoff.next(key, prev.FinishedAt)
	}
	err := k.startContainer(ctx, w, pod, st.Spec, sb, rp.nextRestartCount(st.Spec.Name))
	if errors.Is(err, errImageNotReady) {
		if in, left := k.pullBackoff.inBackOffSinceUpdate(string(pod.UID) + "/" + st.Spec.Image); in {
			return left, err
		}
	}
	return 0, err
}

// reportedSandbox is the sandbox and runtime state a status is built from.
type reportedSandbox struct {
	state   *sandboxState
	runtime *runtimePod
}

// reportStatus computes and writes the pod's status. Without a sandbox it
// reads the runtime itself. A pod that just reached a terminal phase gets
// its containers and sandbox stopped.
func (k *Kubelet) reportStatus(ctx context.Context, w *podWorker, pod *v1.Pod, sb *reportedSandbox, terminal bool) (time.Duration, error) {
	in := statusInputs{
		Pod:         pod,
		Old:         k.baseStatus(w, pod),
		HostIPs:     k.sources.hostIPs(),
		Waiting:     w.waiting,
		Probes:      k.probes,
		RuntimeName: k.runtimeName,
		Terminal:    terminal,
		Failure:     w.failure,
		Now:         time.Now(),
		TerminationMessage: func(spec *v1.Container, rc *runtimeContainer) string {
			return w.terminationMessage(k, pod, spec, rc)
		},
	}
	if sb != nil {
		in.Runtime = sb.runtime
		in.SandboxID = sb.state.ID
		in.SandboxReady = true
		in.PodIPs = sb.state.IPs
	} else {
		rp, err := k.readRuntimePod(ctx, pod.UID)
		if err != nil {
			return 0, err
		}
		in.Runtime = rp
	}
	status := computeStatus(in)
	if err := k.writeStatus(ctx, w, pod, status); err != nil {
		return 0, err
	}
	if isTerminalPhase(status.Phase) && !terminal {
		return k.syncFinished(ctx, w, pod)
	}
	return 0, nil
}

// syncFinished keeps a Succeeded or Failed pod as it ended: containers
// stopped, sandbox stopped so its IP and network go back, volumes torn
// down. The stopped containers stay until the pod is deleted so their
// logs can still be read.
func (k *Kubelet) syncFinished(ctx context.Context, w *podWorker, pod *v1.Pod) (time.Duration, error) {
	rp, err := k.readRuntimePod(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	if err := k.killPod(ctx, pod, rp, nil); err != nil {
		return 0, err
	}
	k.probes.forgetPod(pod.UID)
	if !w.finished {
		if err := k.volumes.Teardown(pod.UID); err != nil {
			return 0, fmt.Errorf("tear down volumes of finished pod %s: %w", podFullName(pod), err)
		}
		w.finished = true
	}
	return finishedPodRecheck, nil
}

// syncTerminating stops a pod being deleted within its grace period,
// reports its final status, cleans up everything it left and then deletes
// the API object, which is what lets `kubectl delete` return.
func (k *Kubelet) syncTerminating(ctx context.Context, w *podWorker, pod *v1.Pod) (time.Duration, error) {
	if w.terminated {
		return resyncInterval, k.deletePodObject(ctx, pod)
	}
	rp, err := k.readRuntimePod(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	grace := deletionGracePeriod(pod)
	if err := k.killPod(ctx, pod, rp, &grace); err != nil {
		return 0, err
	}
	if _, err := k.reportStatus(ctx, w, pod, nil, true); err != nil {
		k.log.Warn("final status not written", "pod", podFullName(pod), "err", err)
	}
	rp, err = k.readRuntimePod(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	if err := k.cleanupPod(ctx, podRefOf(pod), rp); err != nil {
		return 0, err
	}
	w.terminated = true
	return resyncInterval, k.deletePodObject(ctx, pod)
}

// syncRemovedPod cleans up after a pod that is gone from every source
// (force-deleted, static manifest removed, or removed while stopping).
func (k *Kubelet) syncRemovedPod(ctx context.Context, w *podWorker) error {
	if w.terminated {
		return nil
	}
	rp, err := k.readRuntimePod(ctx, w.uid)
	if err != nil {
		return err
	}
	ref := podRef{UID: w.uid}
	if pod := w.lastPod; pod != nil {
		ref = podRefOf(pod)
		grace := deletionGracePeriod(pod)
		if err := k.killPod(ctx, pod, rp, &grace); err != nil {
			return err
		}
		if rp, err = k.readRuntimePod(ctx, w.uid); err != nil {
			return err
		}
		if isStaticPod(pod) {
			k.static.deleteMirror(ctx, pod)
		}
	}
	if err := k.cleanupPod(ctx, ref, rp); err != nil {
		return err
	}
	w.terminated = true
	return nil
}

// deletePodObject removes the API object of a terminated pod at once; the
// UID precondition keeps a new pod of the same name safe.
func (k *Kubelet) deletePodObject(ctx context.Context, pod *v1.Pod) error {
	if isStaticPod(pod) {
		return nil
	}
	zero := int64(0)
	uid := pod.UID
	err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !isAPINotFoundOrConflict(err) {
		return fmt.Errorf("delete pod %s: %w", podFullName(pod), err)
	}
	return nil
}

// deletionGracePeriod is how long the pod's containers get to stop.
func deletionGracePeriod(pod *v1.Pod) int64 {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return *pod.DeletionGracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return *pod.Spec.TerminationGracePeriodSeconds
	default:
		return v1.DefaultTerminationGracePeriodSeconds
	}
}

// podRef names a pod for cleanup; only the UID is known for orphans.
type podRef struct {
	UID       types.UID
	Namespace string
	Name      string
}

func podRefOf(pod *v1.Pod) podRef {
	return podRef{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name}
}
