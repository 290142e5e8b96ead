package envvars

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// VolumePaths maps a volume of the pod to its directory on the host; env
// files referenced by fileKeyRef are read from there.
type VolumePaths func(volumeName string) (dir string, ok bool)

// Resolve builds the environment of container c in pod. See
// ResolveWithVolumes; without volume paths a fileKeyRef is an error.
func Resolve(ctx context.Context, pod *v1.Pod, c *v1.Container, src Sources, nodeAllocatable v1.ResourceList) ([]*runtimeapi.KeyValue, error) {
	return ResolveWithVolumes(ctx, pod, c, src, nodeAllocatable, nil)
}

// ResolveWithVolumes builds the environment of container c in pod as the
// kubelet does: envFrom sources first (later sources win), then env in
// order, where a literal value expands $(VAR) against the variables defined
// so far and the Service variables, and valueFrom reads pod fields,
// resources, ConfigMap/Secret keys or env files. Service variables come
// last and never replace a declared variable.
//
// The pod's status must carry its pod and host IPs (see PodFieldValue).
// Errors name what is missing in the kubelet's words, for
// CreateContainerConfigError.
func ResolveWithVolumes(ctx context.Context, pod *v1.Pod, c *v1.Container, src Sources, nodeAllocatable v1.ResourceList, volumes VolumePaths) ([]*runtimeapi.KeyValue, error) {
	services, err := serviceEnv(ctx, pod, src)
	if err != nil {
		return nil, err
	}
	objects := objectCache{ctx: ctx, ns: pod.Namespace, src: src}
	declared := newOrderedEnv()

	for _, from := range c.EnvFrom {
		data, source, found, err := objects.envFromData(from)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		var invalid []string
		for _, k := range sortedKeys(data) {
			name := from.Prefix + k
			if errs := validation.IsRelaxedEnvVarName(name); len(errs) != 0 {
				invalid = append(invalid, name)
				continue
			}
			declared.set(name, data[k])
		}
		if len(invalid) > 0 {
			slog.WarnContext(ctx, "skipped invalid environment variable names",
				"component", "kubelet", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name,
				"message", fmt.Sprintf("Keys [%s] from the EnvFrom %s were skipped since they are considered invalid environment variable names.", strings.Join(invalid, ", "), source))
		}
	}

	lookup := lookupIn(declared.values, services.values)
	for _, e := range c.Env {
		if e.Value != "" {
			declared.set(e.Name, Expand(e.Value, lookup))
			continue
		}
		if e.ValueFrom == nil {
			declared.set(e.Name, "")
			continue
		}
		value, present, err := valueFrom(e.ValueFrom, pod, c, &objects, nodeAllocatable, volumes)
		if err != nil {
			return nil, err
		}
		if present {
			declared.set(e.Name, value)
		}
	}

	out := make([]*runtimeapi.KeyValue, 0, len(declared.order)+len(services.order))
	for _, k := range declared.order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(declared.values[k])})
	}
	for _, k := range services.order {
		if _, ok := declared.values[k]; !ok {
			out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(services.values[k])})
		}
	}
	return out, nil
}

// valueFrom resolves one env source; present is false when an optional
// source is missing and the variable is left out.
func valueFrom(from *v1.EnvVarSource, pod *v1.Pod, c *v1.Container, objects *objectCache, nodeAllocatable v1.ResourceList, volumes VolumePaths) (value string, present bool, err error) {
	switch {
	case from.FieldRef != nil:
		v, err := PodFieldValue(pod, from.FieldRef.APIVersion, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := ContainerResourceValue(from.ResourceFieldRef, pod, c, nodeAllocatable)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := objects.configMap(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name)
		}
		return v, true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		secret, err := objects.secret(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := secret.Data[ref.Key]
		if !ok {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	case from.FileKeyRef != nil:
		return fileKeyValue(from.FileKeyRef, volumes)
	}
	// An empty source sets the variable to the empty string.
	return "", true, nil
}

func fileKeyValue(ref *v1.FileKeySelector, volumes VolumePaths) (string, bool, error) {
	var dir string
	ok := false
	if volumes != nil {
		dir, ok = volumes(ref.VolumeName)
	}
	if !ok {
		return "", false, fmt.Errorf("cannot find the volume %q referenced by FileKeyRef", ref.VolumeName)
	}
	path, err := fileInVolume(dir, ref.Path)
	if err != nil {
		return "", false, err
	}
	v, err := envFileValue(path, ref.Key)
	if err != nil {
		return "", false, err
	}
	// An empty value counts as absent, as upstream treats it.
	if v == "" {
		if ref.Optional != nil && *ref.Optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("environment variable key %q not found in file %q", ref.Key, path)
	}
	return v, true, nil
}

// serviceEnv is the variables of the Services the pod sees, in a stable
// order (by Service name).
func serviceEnv(ctx context.Context, pod *v1.Pod, src Sources) (*orderedEnv, error) {
	enableLinks := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	inDefault, err := src.Services(ctx, "default")
	if err != nil {
		return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
	}
	inNamespace := inDefault
	if enableLinks && pod.Namespace != "default" {
		if inNamespace, err = src.Services(ctx, pod.Namespace); err != nil {
			return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
		}
	}
	picked := linkedServices(pod.Namespace, enableLinks, inNamespace, inDefault)
	names := make([]string, 0, len(picked))
	for name := range picked {
		names = append(names, name)
	}
	sort.Strings(names)
	env := newOrderedEnv()
	for _, name := range names {
		serviceVars(picked[name], env.set)
	}
	return env, nil
}

// objectCache fetches each ConfigMap and Secret once per resolution.
type objectCache struct {
	ctx        context.Context
	ns         string
	src        Sources
	configMaps map[string]*v1.ConfigMap
	secrets    map[string]*v1.Secret
}

func (o *objectCache) configMap(name string) (*v1.ConfigMap, error) {
	if cm, ok := o.configMaps[name]; ok {
		return cm, nil
	}
	cm, err := o.src.ConfigMap(o.ctx, o.ns, name)
	if err != nil {
		return nil, err
	}
	if o.configMaps == nil {
		o.configMaps = make(map[string]*v1.ConfigMap)
	}
	o.configMaps[name] = cm
	return cm, nil
}

func (o *objectCache) secret(name string) (*v1.Secret, error) {
	if s, ok := o.secrets[name]; ok {
		return s, nil
	}
	s, err := o.src.Secret(o.ctx, o.ns, name)
	if err != nil {
		return nil, err
	}
	if o.secrets == nil {
		o.secrets = make(map[string]*v1.Secret)
	}
	o.secrets[name] = s
	return s, nil
}

// envFromData is the key/value data of an envFrom source; found is false
// when an optional source does not exist.
func (o *objectCache) envFromData(from v1.EnvFromSource) (data map[string]string, source string, found bool, err error) {
	switch {
	case from.ConfigMapRef != nil:
		ref := from.ConfigMapRef
		cm, err := o.configMap(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && ref.Optional != nil && *ref.Optional {
				return nil, "", false, nil
			}
			return nil, "", false, err
		}
		return cm.Data, "configMap " + o.ns + "/" + ref.Name, true, nil
	case from.SecretRef != nil:
		ref := from.SecretRef
		s, err := o.secret(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && ref.Optional != nil && *ref.Optional {
				return nil, "", false, nil
			}
			return nil, "", false, err
		}
		data := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, "secret " + o.ns + "/" + ref.Name, true, nil
	}
	return nil, "", false, nil
}

// orderedEnv keeps variables in the order they were first defined; a later
// definition replaces the value but keeps the position.
type orderedEnv struct {
	order  []string
	values map[string]string
}

func newOrderedEnv() *orderedEnv {
	return &orderedEnv{values: make(map[string]string)}
}

func (e *orderedEnv) set(name, value string) {
	if _, ok := e.values[name]; !ok {
		e.order = append(e.order, name)
	}
	e.values[name] = value
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
