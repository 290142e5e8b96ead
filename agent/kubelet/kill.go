package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
)

// minGracePeriod is the least time a container gets to stop, as upstream.
const minGracePeriod = 2

// killPod stops every running container of the pod in parallel, each
// within grace (nil: the pod's termination grace period), then stops its
// ready sandboxes.
func (k *Kubelet) killPod(ctx context.Context, pod *v1.Pod, rp *runtimePod, grace *int64) error {
	var kills []killRequest
	for _, rc := range rp.Containers {
		if rc.running() {
			spec, _ := containerSpec(pod, rc.Name)
			kills = append(kills, killRequest{Container: rc, Spec: spec, Grace: grace})
		}
	}
	err := k.runKills(ctx, pod, kills)
	for _, sb := range rp.Sandboxes {
		if !sb.Ready {
			continue
		}
		if serr := k.cfg.Runtime.StopPodSandbox(ctx, sb.ID); serr != nil && !isNotFound(serr) {
			err = errors.Join(err, fmt.Errorf("stop sandbox %s of pod %s: %w", sb.ID, podFullName(pod), serr))
		}
	}
	return err
}

// runKills stops containers in parallel and waits for all of them.
func (k *Kubelet) runKills(ctx context.Context, pod *v1.Pod, kills []killRequest) error {
	var wg sync.WaitGroup
	errs := make([]error, len(kills))
	for i, kr := range kills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.killContainer(ctx, pod, kr)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// killContainer runs the preStop hook, then asks the runtime to stop the
// container with what is left of the grace period.
func (k *Kubelet) killContainer(ctx context.Context, pod *v1.Pod, kr killRequest) error {
	rc := kr.Container
	grace := deletionGracePeriod(pod)
	if kr.Grace != nil {
		grace = *kr.Grace
	}
	msg := kr.Message
	if msg == "" {
		msg = fmt.Sprintf("Stopping container %s", rc.Name)
	}
	k.recorder.Eventf(pod, v1.EventTypeNormal, reasonKilling, "%s", msg)
	start := time.Now()
	if spec := kr.Spec; spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 {
		hookCtx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
		ip := k.podIPForHooks(hookCtx, pod, rc.SandboxID)
		if hookMsg, err := k.runHook(hookCtx, pod, spec, rc.ID, spec.Lifecycle.PreStop, ip); err != nil {
			k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailedPreStopHook, "%s", hookMsg)
		}
		cancel()
		grace -= int64(time.Since(start).Seconds())
	}
	grace = max(grace, minGracePeriod)
	k.probes.stopContainer(rc.ID)
	if err := k.cfg.Runtime.StopContainer(ctx, rc.ID, grace); err != nil && !isNotFound(err) {
		return fmt.Errorf("stop container %s of pod %s: %w", rc.Name, podFullName(pod), err)
	}
	k.log.Info("stopped container", "pod", podFullName(pod), "container", rc.Name, "id", rc.ID)
	return nil
}

// podIPForHooks is the IP an httpGet hook without a host goes to.
func (k *Kubelet) podIPForHooks(ctx context.Context, pod *v1.Pod, sandboxID string) string {
	if ips, err := k.sandboxIPs(ctx, pod, sandboxID); err == nil && len(ips) > 0 {
		return ips[0]
	}
	return pod.Status.PodIP
}
