package kubelet

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestParseStaticPod(t *testing.T) {
	const manifest = `
apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
spec:
  containers:
  - name: etcd
    image: registry.local/etcd:3.6
`
	pod, err := parseStaticPod([]byte(manifest), "/m/etcd.yaml", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "etcd-node-a" || pod.Namespace != "kube-system" || pod.Spec.NodeName != "node-a" {
		t.Errorf("identity = %s/%s on %s", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	if pod.Annotations[annotationConfigSource] != "file" || pod.Annotations[annotationConfigHash] != string(pod.UID) || pod.UID == "" {
		t.Errorf("annotations = %v, uid %q", pod.Annotations, pod.UID)
	}
	if pod.Spec.RestartPolicy != v1.RestartPolicyAlways || pod.Spec.Containers[0].ImagePullPolicy != v1.PullIfNotPresent ||
		pod.Spec.DNSPolicy != v1.DNSClusterFirst || pod.Spec.Containers[0].TerminationMessagePath != defaultTerminationMessagePath {
		t.Errorf("defaults not applied: %+v", pod.Spec)
	}
	if !isStaticPod(pod) || isMirrorPod(pod) {
		t.Error("a static pod is static and not a mirror")
	}
	again, _ := parseStaticPod([]byte(manifest), "/m/etcd.yaml", "node-a")
	changed, _ := parseStaticPod([]byte(manifest+"    args: [x]\n"), "/m/etcd.yaml", "node-a")
	if again.UID != pod.UID || changed.UID == pod.UID {
		t.Error("the UID must be stable for the same manifest and change with it")
	}

	bad := []struct{ name, manifest, want string }{
		{"not yaml", "{", "decode"},
		{"wrong kind", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "want a v1 Pod"},
		{"no name", "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}]}\n", "metadata.name"},
		{"no containers", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "spec.containers"},
		{"no image", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a}]}\n", "no image"},
		{"duplicate", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: b}, {name: a, image: b}]}\n", "used twice"},
	}
	for _, tt := range bad {
		if _, err := parseStaticPod([]byte(tt.manifest), "/m/x.yaml", "n"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}
