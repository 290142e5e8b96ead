package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"kite/agent/kubelet/envvars"
)

// defaultFileMode is the API's default for defaultMode.
const defaultFileMode = 0o644

func fileMode(item *int32, defaultMode *int32) os.FileMode {
	if item != nil {
		return os.FileMode(*item)
	}
	if defaultMode != nil {
		return os.FileMode(*defaultMode)
	}
	return defaultFileMode
}

// keyData is the key/value data of a ConfigMap or Secret.
type keyData struct {
	data        map[string][]byte
	missingWhat string // how the missing-key error starts, in upstream words
}

func configMapData(cm *v1.ConfigMap) keyData {
	d := keyData{data: make(map[string][]byte, len(cm.Data)+len(cm.BinaryData)), missingWhat: "configmap references non-existent config key"}
	for k, v := range cm.Data {
		d.data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		d.data[k] = v
	}
	return d
}

func secretData(s *v1.Secret) keyData {
	d := keyData{data: make(map[string][]byte, len(s.Data)), missingWhat: "references non-existent secret key"}
	for k, v := range s.Data {
		d.data[k] = v
	}
	return d
}

// keyFiles maps data keys to files: every key by its own name, or only the
// listed items at their paths. A listed key that is missing is an error
// unless the source is optional.
func keyFiles(out map[string]projectedFile, d keyData, items []v1.KeyToPath, defaultMode *int32, optional bool) error {
	if len(items) == 0 {
		for k, v := range d.data {
			out[k] = projectedFile{data: v, mode: fileMode(nil, defaultMode), uid: -1}
		}
		return nil
	}
	for _, item := range items {
		v, ok := d.data[item.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s: %s", d.missingWhat, item.Key)
		}
		out[path.Clean(item.Path)] = projectedFile{data: v, mode: fileMode(item.Mode, defaultMode), uid: -1}
	}
	return nil
}

// downwardFiles renders downward API items.
func downwardFiles(out map[string]projectedFile, pod *v1.Pod, items []v1.DownwardAPIVolumeFile, defaultMode *int32, nodeAllocatable v1.ResourceList) error {
	var errs []error
	for _, item := range items {
		var value string
		var err error
		switch {
		case item.FieldRef != nil:
			value, err = envvars.PodFieldValue(pod, item.FieldRef.APIVersion, item.FieldRef.FieldPath)
		case item.ResourceFieldRef != nil:
			value, err = envvars.ContainerResourceValue(item.ResourceFieldRef, pod, nil, nodeAllocatable)
		default:
			err = fmt.Errorf("downward API item %q has no source", item.Path)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[path.Clean(item.Path)] = projectedFile{data: []byte(value), mode: fileMode(item.Mode, defaultMode), uid: -1}
	}
	return errors.Join(errs...)
}

// optionalObject turns a not-found error of an optional source into "no
// object".
func optionalObject(err error, optional bool) (missing bool, _ error) {
	if err == nil {
		return false, nil
	}
	if apierrors.IsNotFound(err) && optional {
		return true, nil
	}
	return false, err
}

// projectedFiles renders a projected volume's sources.
func (m *Manager) projectedFiles(ctx context.Context, pod *v1.Pod, src *v1.ProjectedVolumeSource) (map[string]projectedFile, error) {
	out := make(map[string]projectedFile)
	fsUser := podFsUser(pod)
	fsGroup := podFsGroup(pod)
	var errs []error
	for _, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			optional := s.ConfigMap.Optional != nil && *s.ConfigMap.Optional
			cm, err := m.src.ConfigMap(ctx, pod.Namespace, s.ConfigMap.Name)
			missing, err := optionalObject(err, optional)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if missing {
				cm = &v1.ConfigMap{}
			}
			if err := keyFiles(out, configMapData(cm), s.ConfigMap.Items, src.DefaultMode, optional); err != nil {
				errs = append(errs, err)
			}
		case s.Secret != nil:
			optional := s.Secret.Optional != nil && *s.Secret.Optional
			secret, err := m.src.Secret(ctx, pod.Namespace, s.Secret.Name)
			missing, err := optionalObject(err, optional)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if missing {
				secret = &v1.Secret{}
			}
			if err := keyFiles(out, secretData(secret), s.Secret.Items, src.DefaultMode, optional); err != nil {
				errs = append(errs, err)
			}
		case s.DownwardAPI != nil:
			if err := downwardFiles(out, pod, s.DownwardAPI.Items, src.DefaultMode, m.allocatable()); err != nil {
				errs = append(errs, err)
			}
		case s.ServiceAccountToken != nil:
			f, err := m.tokenFile(ctx, pod, s.ServiceAccountToken, src.DefaultMode, fsUser, fsGroup)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out[path.Clean(s.ServiceAccountToken.Path)] = f
		case s.ClusterTrustBundle != nil:
			errs = append(errs, errors.New("clusterTrustBundle projections are not supported by this kubelet"))
		case s.PodCertificate != nil:
			errs = append(errs, errors.New("podCertificate projections are not supported by this kubelet"))
		}
	}
	return out, errors.Join(errs...)
}

// tokenFile is a projected service account token: bound to the pod, with
// the requested audience and lifetime. When the pod runs as one user or has
// an fsGroup the file is 0600 (owned by that user) and fsGroup handling
// then adds group read, so only the pod can read it.
func (m *Manager) tokenFile(ctx context.Context, pod *v1.Pod, p *v1.ServiceAccountTokenProjection, defaultMode *int32, fsUser, fsGroup *int64) (projectedFile, error) {
	var audiences []string
	if p.Audience != "" {
		audiences = []string{p.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: p.ExpirationSeconds,
			BoundObjectRef: &authenticationv1.BoundObjectReference{
				APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
			},
		},
	}
	tr, err := m.tokens.get(ctx, m.src, pod.Namespace, sa, req)
	if err != nil {
		return projectedFile{}, err
	}
	f := projectedFile{data: []byte(tr.Status.Token), mode: fileMode(nil, defaultMode), uid: -1}
	if fsUser != nil || fsGroup != nil {
		f.mode = 0o600
	}
	if fsUser != nil {
		f.uid = int(*fsUser)
	}
	return f, nil
}

// podFsGroup is the pod's fsGroup, if any.
func podFsGroup(pod *v1.Pod) *int64 {
	if sc := pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}

// podFsUser is the user every container of the pod runs as, when they all
// state the same one; nil otherwise.
func podFsUser(pod *v1.Pod) *int64 {
	var podUser *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		podUser = sc.RunAsUser
	}
	var user *int64
	all := make([]*v1.SecurityContext, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers)+len(pod.Spec.EphemeralContainers))
	for i := range pod.Spec.InitContainers {
		all = append(all, pod.Spec.InitContainers[i].SecurityContext)
	}
	for i := range pod.Spec.Containers {
		all = append(all, pod.Spec.Containers[i].SecurityContext)
	}
	for i := range pod.Spec.EphemeralContainers {
		all = append(all, pod.Spec.EphemeralContainers[i].SecurityContext)
	}
	for _, sc := range all {
		u := podUser
		if sc != nil && sc.RunAsUser != nil {
			u = sc.RunAsUser
		}
		if u == nil {
			return nil
		}
		if user != nil && *user != *u {
			return nil
		}
		user = u
	}
	return user
}
