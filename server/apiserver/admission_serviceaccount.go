package apiserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/storage/names"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	api "k8s.io/kubernetes/pkg/apis/core"
	saadmission "k8s.io/kubernetes/plugin/pkg/admission/serviceaccount"
)

// defaultServiceAccountAttempts is how often a pod's missing default
// service account is looked for before the pod is refused: the
// service-account controller creates it right after the namespace.
const defaultServiceAccountAttempts = 10

// admitServiceAccount is kube-apiserver's ServiceAccount admission for new
// pods: mirror pods may not use service accounts or secrets; other pods
// run as `default` unless they name a service account, which must exist,
// and get its token, the cluster CA and their namespace mounted in every
// container at /var/run/secrets/kubernetes.io/serviceaccount unless the
// pod or the service account turn automounting off.
func (s *Server) admitServiceAccount(ctx context.Context, h *resourceHandler, pod *api.Pod) error {
	if s.cfg.SkipSAAdmission {
		return nil
	}
	if _, mirror := pod.Annotations[api.MirrorPodAnnotationKey]; mirror {
		return validateMirrorPod(h, pod)
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = saadmission.DefaultServiceAccountName
		//lint:ignore SA1019 kept in step with serviceAccountName, as upstream's defaulting expects
		pod.Spec.DeprecatedServiceAccount = saadmission.DefaultServiceAccountName
	}
	sa, err := s.podServiceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return apierrors.NewForbidden(h.groupResource(), pod.Name, fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if automount(sa, pod) {
		mountServiceAccountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]api.LocalObjectReference, len(sa.ImagePullSecrets))
		copy(pod.Spec.ImagePullSecrets, sa.ImagePullSecrets)
	}
	return nil
}

func validateMirrorPod(h *resourceHandler, pod *api.Pod) error {
	refuse := func(msg string) error {
		return apierrors.NewForbidden(h.groupResource(), pod.Name, fmt.Errorf("%s", msg))
	}
	if pod.Spec.ServiceAccountName != "" {
		return refuse("a mirror pod may not reference service accounts")
	}
	hasSecrets := false
	podutil.VisitPodSecretNames(pod, func(string) bool {
		hasSecrets = true
		return false
	}, podutil.AllContainers)
	if hasSecrets {
		return refuse("a mirror pod may not reference secrets")
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return refuse("a mirror pod may not use ServiceAccountToken volume projections")
			}
		}
	}
	return nil
}

// podServiceAccount finds the service account; the default one is waited
// for a little, since it appears just after its namespace.
func (s *Server) podServiceAccount(ctx context.Context, namespace, name string) (*api.ServiceAccount, error) {
	store := s.handlerFor(serviceAccountsGR).store
	attempts := 1
	if name == saadmission.DefaultServiceAccountName {
		attempts = defaultServiceAccountAttempts
	}
	pause := time.Duration(100+rand.IntN(100)) * time.Millisecond
	for i := 0; ; i++ {
		obj, err := store.Cached(ctx, namespace, name)
		if err == nil {
			return obj.(*api.ServiceAccount), nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
		if i+1 >= attempts {
			return nil, apierrors.NewNotFound(api.Resource("serviceaccount"), name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// automount: the pod's choice wins, then the service account's; the
// default is to mount.
func automount(sa *api.ServiceAccount, pod *api.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken mounts the kube-api-access-<random> projected
// volume read-only in every init and app container that has nothing at the
// service-account path yet, adding the volume when one needs it.
func mountServiceAccountToken(pod *api.Pod) {
	volumeName := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, saadmission.ServiceAccountVolumeName+"-") {
			volumeName = v.Name
			break
		}
	}
	hadVolume := volumeName != ""
	if !hadVolume {
		volumeName = names.SimpleNameGenerator.GenerateName(saadmission.ServiceAccountVolumeName + "-")
	}
	mount := api.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: saadmission.DefaultAPITokenMountPath}
	needed := false
	for _, containers := range [][]api.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range containers {
			if hasMountAt(containers[i].VolumeMounts, saadmission.DefaultAPITokenMountPath) {
				continue
			}
			containers[i].VolumeMounts = append(containers[i].VolumeMounts, mount)
			needed = true
		}
	}
	if needed && !hadVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, api.Volume{Name: volumeName, VolumeSource: api.VolumeSource{Projected: saadmission.TokenVolumeSource()}})
	}
}

func hasMountAt(mounts []api.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}
