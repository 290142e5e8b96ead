package kubelet

import (
	"context"
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// Waiting reasons of container creation, as upstream.
const (
	waitingCreateContainerConfigError = "CreateContainerConfigError"
	waitingCreateContainerError       = "CreateContainerError"
	waitingRunContainerError          = "RunContainerError"
)

// startContainer pulls the image, creates and starts one container
// instance and runs its postStart hook. Failures leave the container's
// waiting state and events as upstream reports them.
func (k *Kubelet) startContainer(ctx context.Context, w *podWorker, pod *v1.Pod, c *v1.Container, sb *sandboxState, restartCount int) error {
	img, err := k.ensureImage(ctx, w, pod, c, sb.Config)
	if err != nil {
		return err
	}
	cfg, err := k.containerConfig(ctx, pod, c, img.ID, img.User, restartCount, sb.IPs)
	if err != nil {
		reason := waitingCreateContainerError
		var ce configError
		if errors.As(err, &ce) {
			reason = waitingCreateContainerConfigError
		}
		w.waiting[c.Name] = waitingState{Reason: reason, Message: err.Error()}
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailed, "Error: %v", err)
		return fmt.Errorf("configure container %s of pod %s: %w", c.Name, podFullName(pod), err)
	}
	id, err := k.cfg.Runtime.CreateContainer(ctx, sb.ID, cfg, sb.Config)
	if err != nil {
		w.waiting[c.Name] = waitingState{Reason: waitingCreateContainerError, Message: err.Error()}
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailed, "Error: %v", err)
		return fmt.Errorf("create container %s of pod %s: %w", c.Name, podFullName(pod), err)
	}
	k.recorder.Eventf(pod, v1.EventTypeNormal, reasonCreated, "Created container: %s", c.Name)
	if err := k.cfg.Runtime.StartContainer(ctx, id); err != nil {
		w.waiting[c.Name] = waitingState{Reason: waitingRunContainerError, Message: err.Error()}
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailed, "Error: %v", err)
		return fmt.Errorf("start container %s of pod %s: %w", c.Name, podFullName(pod), err)
	}
	delete(w.waiting, c.Name)
	k.recorder.Eventf(pod, v1.EventTypeNormal, reasonStarted, "Started container %s", c.Name)
	k.log.Info("started container", "pod", podFullName(pod), "container", c.Name, "id", id, "restartCount", restartCount)

	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		ip := ""
		if len(sb.IPs) > 0 {
			ip = sb.IPs[0]
		}
		if msg, err := k.runHook(ctx, pod, c, id, c.Lifecycle.PostStart, ip); err != nil {
			k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailedPostStartHook, "%s", msg)
			rc := &runtimeContainer{ID: id, Name: c.Name, SandboxID: sb.ID}
			kerr := k.killContainer(ctx, pod, killRequest{Container: rc, Spec: c,
				Message: fmt.Sprintf("FailedPostStartHook: container %s will be killed and restarted per its restart policy", c.Name)})
			return errors.Join(fmt.Errorf("postStart hook of container %s in pod %s: %w", c.Name, podFullName(pod), err), kerr)
		}
	}
	return nil
}
