package kubelet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Waiting reasons of image handling, as upstream.
const (
	waitingErrImagePull      = "ErrImagePull"
	waitingImagePullBackOff  = "ImagePullBackOff"
	waitingErrImageNeverPull = "ErrImageNeverPull"
	waitingImageInspectError = "ImageInspectError"
)

// errImageNotReady: the image is missing and will not be (or not yet be)
// pulled; the container's waiting state says why.
var errImageNotReady = errors.New("image not ready")

// presentImage describes an image the runtime already has.
type presentImage struct {
	ID   string
	Size uint64
	User imageUser
}

// imageStatus asks the runtime for an image; nil means it is not present.
func (k *Kubelet) imageStatus(ctx context.Context, image string) (*presentImage, error) {
	resp, err := k.cfg.Images.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: image}, false)
	if err != nil {
		return nil, fmt.Errorf("image status of %q: %w", image, err)
	}
	img := resp.GetImage()
	if img == nil {
		return nil, nil
	}
	p := &presentImage{ID: img.Id, Size: img.Size, User: imageUser{Username: img.Username}}
	if img.Uid != nil {
		uid := img.Uid.Value
		p.User.UID = &uid
	}
	return p, nil
}

// ensureImage makes the container's image present as its pull policy says
// and returns it; on failure the worker's waiting state for the container
// holds upstream's reason and message.
func (k *Kubelet) ensureImage(ctx context.Context, w *podWorker, pod *v1.Pod, c *v1.Container,
	sandbox *runtimeapi.PodSandboxConfig) (*presentImage, error) {
	policy := pullPolicy(c)
	present, err := k.imageStatus(ctx, c.Image)
	if err != nil {
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonInspectFailed, "Failed to inspect image %q: %v", c.Image, err)
		w.waiting[c.Name] = waitingState{Reason: waitingImageInspectError, Message: fmt.Sprintf("Failed to inspect image %q: %v", c.Image, err)}
		return nil, err
	}
	if present != nil && policy != v1.PullAlways {
		k.recorder.Eventf(pod, v1.EventTypeNormal, reasonPulled, "Container image %q already present on machine", c.Image)
		return present, nil
	}
	if policy == v1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonErrImageNeverPull, "%s", msg)
		w.waiting[c.Name] = waitingState{Reason: waitingErrImageNeverPull, Message: msg}
		return nil, errImageNotReady
	}
	key := string(pod.UID) + "/" + c.Image
	if in, _ := k.pullBackoff.inBackOffSinceUpdate(key); in {
		k.recorder.Eventf(pod, v1.EventTypeNormal, reasonBackOff, "Back-off pulling image %q", c.Image)
		w.waiting[c.Name] = waitingState{
			Reason:  waitingImagePullBackOff,
			Message: fmt.Sprintf("Back-off pulling image %q: %s: %s", c.Image, waitingErrImagePull, w.pullErrors[key]),
		}
		return nil, errImageNotReady
	}
	k.recorder.Eventf(pod, v1.EventTypeNormal, reasonPulling, "Pulling image %q", c.Image)
	start := time.Now()
	if err := k.pullImage(ctx, pod, c.Image, sandbox); err != nil {
		k.pullBackoff.next(key, time.Now())
		msg := err.Error()
		w.pullErrors[key] = msg
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailed, "Failed to pull image %q: %s", c.Image, msg)
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailed, "Error: %s", waitingErrImagePull)
		w.waiting[c.Name] = waitingState{Reason: waitingErrImagePull, Message: msg}
		return nil, errImageNotReady
	}
	delete(w.pullErrors, key)
	elapsed := time.Since(start).Round(time.Millisecond)
	present, err = k.imageStatus(ctx, c.Image)
	if err != nil {
		return nil, err
	}
	if present == nil {
		return nil, fmt.Errorf("image %q is missing right after its pull", c.Image)
	}
	k.recorder.Eventf(pod, v1.EventTypeNormal, reasonPulled, "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.",
		c.Image, elapsed, elapsed, present.Size)
	return present, nil
}

// pullImage pulls with every credential that matches the image in turn:
// the pod's pull secrets, then the node's registry configuration, then
// anonymously when nothing matches.
func (k *Kubelet) pullImage(ctx context.Context, pod *v1.Pod, image string, sandbox *runtimeapi.PodSandboxConfig) error {
	creds, err := k.pullSecretCredentials(ctx, pod)
	if err != nil {
		return err
	}
	auths := matchingCredentials(creds, image)
	if k.cfg.RegistryAuth != nil {
		if a := k.cfg.RegistryAuth(image); a != nil {
			auths = append(auths, a)
		}
	}
	if len(auths) == 0 {
		auths = []*runtimeapi.AuthConfig{nil}
	}
	var errs []string
	for _, auth := range auths {
		_, err := k.cfg.Images.PullImage(ctx, &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: image}, auth, sandbox)
		if err == nil {
			return nil
		}
		errs = append(errs, err.Error())
	}
	return errors.New(strings.Join(errs, "; "))
}

// pullSecretCredentials reads the pod's imagePullSecrets; missing secrets
// are reported and skipped, as upstream does.
func (k *Kubelet) pullSecretCredentials(ctx context.Context, pod *v1.Pod) ([]registryCredential, error) {
	var secrets []*v1.Secret
	var missing []string
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		s, err := k.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			missing = append(missing, fmt.Sprintf("%q", ref.Name))
			continue
		}
		secrets = append(secrets, s)
	}
	if len(missing) > 0 {
		k.recorder.Eventf(pod, v1.EventTypeWarning, "FailedToRetrieveImagePullSecret",
			"Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", strings.Join(missing, ", "))
	}
	return credentialsFromSecrets(secrets)
}
