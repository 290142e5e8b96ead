package envvars

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// PodFieldValue is the downward API value of a pod field as the kubelet
// exposes it in environment variables and downwardAPI volume files.
//
// The pod's status must carry its current addresses: status.podIP(s) come
// from pod.Status.PodIPs (or PodIP) and status.hostIP(s) from
// pod.Status.HostIPs (or HostIP); the kubelet fills them from the sandbox and
// the node before it resolves the environment.
func PodFieldValue(pod *v1.Pod, apiVersion, fieldPath string) (string, error) {
	if apiVersion != "" && apiVersion != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", apiVersion)
	}
	switch fieldPath {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		ips := hostIPs(pod)
		if len(ips) == 0 {
			return "", fmt.Errorf("cannot resolve %s: the host IP of pod %s/%s is not known", fieldPath, pod.Namespace, pod.Name)
		}
		if fieldPath == "status.hostIP" {
			return ips[0], nil
		}
		return strings.Join(ips, ","), nil
	case "status.podIP":
		if ips := podIPs(pod); len(ips) > 0 {
			return ips[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(podIPs(pod), ","), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return FormatMap(pod.Labels), nil
	case "metadata.annotations":
		return FormatMap(pod.Annotations), nil
	}
	path, key, ok := splitSubscript(fieldPath)
	if !ok {
		return "", fmt.Errorf("unsupported fieldPath: %v", fieldPath)
	}
	switch path {
	case "metadata.labels":
		if errs := validation.IsQualifiedName(key); len(errs) != 0 {
			return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
		}
		return pod.Labels[key], nil
	case "metadata.annotations":
		// Annotation keys are matched case-insensitively by validation.
		if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
			return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
		}
		return pod.Annotations[key], nil
	}
	return "", fmt.Errorf("fieldPath %q does not support subscript", fieldPath)
}

// splitSubscript splits "metadata.labels['k']" into "metadata.labels" and "k".
func splitSubscript(fieldPath string) (path, key string, ok bool) {
	inner, found := strings.CutSuffix(fieldPath, "']")
	if !found {
		return "", "", false
	}
	path, key, found = strings.Cut(inner, "['")
	if !found || path == "" {
		return "", "", false
	}
	return path, key, true
}

// FormatMap renders labels or annotations one `key="value"` per line, sorted
// by key, with Go string quoting of the value and no trailing newline.
func FormatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	return b.String()
}

func podIPs(pod *v1.Pod) []string {
	ips := make([]string, 0, len(pod.Status.PodIPs))
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = append(ips, pod.Status.PodIP)
	}
	return ips
}

func hostIPs(pod *v1.Pod) []string {
	ips := make([]string, 0, len(pod.Status.HostIPs))
	for _, ip := range pod.Status.HostIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.HostIP != "" {
		ips = append(ips, pod.Status.HostIP)
	}
	return ips
}
