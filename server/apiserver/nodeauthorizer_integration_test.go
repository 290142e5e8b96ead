package apiserver_test

import (
	"encoding/json"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// wantForbidden checks err is a 403 whose message contains want.
func wantForbidden(t *testing.T, err error, want string) {
	t.Helper()
	st := wantAPIError(t, err, 403, metav1.StatusReasonForbidden)
	if !strings.Contains(st.Message, want) {
		t.Fatalf("message %q, want it to contain %q", st.Message, want)
	}
}

// TestIntegrationNodeAuthorization: a joined node reads the cluster's
// nodes and pods, writes its own Node, Lease and pods, and reads only the
// secrets and config maps its pods use, as upstream's node authorizer and
// NodeRestriction admission allow.
func TestIntegrationNodeAuthorization(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t)
	admin := e.c
	node, err := kubernetes.NewForConfig(joinNode(t, e, "a"))
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	for _, name := range []string{"a", "b"} {
		if _, err := admin.CoreV1().Nodes().Create(c, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"used", "unused"} {
		if _, err := admin.CoreV1().Secrets(ns).Create(c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "runner"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mine := pod(ns, "mine")
	mine.Spec.NodeName = "a"
	mine.Spec.ServiceAccountName = "runner"
	mine.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "used"}}}}
	theirs := pod(ns, "theirs")
	theirs.Spec.NodeName = "b"
	for _, p := range []*corev1.Pod{mine, theirs} {
		if _, err := admin.CoreV1().Pods(ns).Create(c, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("reads", func(t *testing.T) {
		if _, err := node.CoreV1().Nodes().List(c, metav1.ListOptions{}); err != nil {
			t.Fatalf("listing nodes: %v", err)
		}
		if _, err := node.CoreV1().Pods("").List(c, metav1.ListOptions{}); err != nil {
			t.Fatalf("listing pods: %v", err)
		}
		if _, err := node.CoreV1().Services("").List(c, metav1.ListOptions{}); err != nil {
			t.Fatalf("listing services: %v", err)
		}
		if _, err := node.CoreV1().Secrets(ns).Get(c, "used", metav1.GetOptions{}); err != nil {
			t.Fatalf("reading a secret its pod uses: %v", err)
		}
		// A watch of one secret, as the kubelet's secret manager does.
		w, err := node.CoreV1().Secrets(ns).Watch(c, metav1.ListOptions{FieldSelector: "metadata.name=used"})
		if err != nil {
			t.Fatalf("watching a secret its pod uses: %v", err)
		}
		w.Stop()
		_, err = node.CoreV1().Secrets(ns).Get(c, "unused", metav1.GetOptions{})
		wantForbidden(t, err, `secrets "unused" is forbidden: User "system:node:a" cannot get resource "secrets" in API group "" in the namespace "`+ns+`": no relationship found between node 'a' and this object`)
		_, err = node.CoreV1().Secrets(ns).List(c, metav1.ListOptions{})
		wantForbidden(t, err, "can only get individual resources of this type")
		_, err = node.AppsV1().Deployments(ns).List(c, metav1.ListOptions{})
		wantForbidden(t, err, `User "system:node:a" cannot list resource "deployments" in API group "apps"`)
	})

	t.Run("own node", func(t *testing.T) {
		patch := []byte(`{"metadata":{"labels":{"ready":"yes"}}}`)
		if _, err := node.CoreV1().Nodes().Patch(c, "a", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatalf("patching its own node: %v", err)
		}
		_, err := node.CoreV1().Nodes().Patch(c, "b", types.MergePatchType, patch, metav1.PatchOptions{})
		wantForbidden(t, err, `nodes "b" is forbidden: User "system:node:a" cannot patch resource "nodes" in API group "" at the cluster scope: node 'a' cannot modify node 'b'`)
		status := []byte(`{"status":{"conditions":[{"type":"Ready","status":"True"}]}}`)
		if _, err := node.CoreV1().Nodes().Patch(c, "a", types.MergePatchType, status, metav1.PatchOptions{}, "status"); err != nil {
			t.Fatalf("patching its own node status: %v", err)
		}
		_, err = node.CoreV1().Nodes().Patch(c, "b", types.MergePatchType, status, metav1.PatchOptions{}, "status")
		wantForbidden(t, err, "node 'a' cannot modify node 'b'")
		_, err = node.CoreV1().Nodes().Create(c, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{})
		wantForbidden(t, err, `node "a" is not allowed to modify node "c"`)
		taint := []byte(`{"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}`)
		_, err = node.CoreV1().Nodes().Patch(c, "a", types.MergePatchType, taint, metav1.PatchOptions{})
		wantForbidden(t, err, `node "a" is not allowed to modify taints`)
		label := []byte(`{"metadata":{"labels":{"node-restriction.kubernetes.io/tier":"gold"}}}`)
		_, err = node.CoreV1().Nodes().Patch(c, "a", types.MergePatchType, label, metav1.PatchOptions{})
		wantForbidden(t, err, "node-restriction.kubernetes.io/tier")
	})

	t.Run("lease", func(t *testing.T) {
		lease := func(name string) *coordinationv1.Lease {
			return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease}}
		}
		if _, err := node.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(c, lease("a"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating its lease: %v", err)
		}
		_, err := node.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(c, lease("b"), metav1.CreateOptions{})
		wantForbidden(t, err, "can only access node lease with the same name as the requesting node")
		_, err = node.CoordinationV1().Leases("kube-system").Get(c, "kube-controller-manager", metav1.GetOptions{})
		wantForbidden(t, err, `can only access leases in the "kube-node-lease" system namespace`)
	})

	t.Run("pods", func(t *testing.T) {
		status := []byte(`{"status":{"phase":"Running"}}`)
		if _, err := node.CoreV1().Pods(ns).Patch(c, "mine", types.MergePatchType, status, metav1.PatchOptions{}, "status"); err != nil {
			t.Fatalf("reporting its pod's status: %v", err)
		}
		_, err := node.CoreV1().Pods(ns).Patch(c, "theirs", types.MergePatchType, status, metav1.PatchOptions{}, "status")
		wantForbidden(t, err, "node 'a' can only patch pods with spec.nodeName set to itself")
		err = node.CoreV1().Pods(ns).Delete(c, "theirs", metav1.DeleteOptions{})
		wantForbidden(t, err, "node 'a' can only delete pods with spec.nodeName set to itself")

		_, err = node.CoreV1().Pods(ns).Create(c, pod(ns, "plain"), metav1.CreateOptions{})
		wantForbidden(t, err, `node "a" can only create mirror pods`)
		mirror := pod(ns, "static-a")
		mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
		mirror.Spec.NodeName = "b"
		_, err = node.CoreV1().Pods(ns).Create(c, mirror, metav1.CreateOptions{})
		wantForbidden(t, err, `node "a" can only create pods with spec.nodeName set to itself`)
		mirror.Spec.NodeName = "a"
		if _, err := node.CoreV1().Pods(ns).Create(c, mirror, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating its mirror pod: %v", err)
		}
		if err := node.CoreV1().Pods(ns).Delete(c, "static-a", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("deleting its mirror pod: %v", err)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "mine"},
		}}
		tr, err := node.CoreV1().ServiceAccounts(ns).CreateToken(c, "runner", req, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a token for its pod: %v", err)
		}
		var claims map[string]any
		parts := strings.Split(tr.Status.Token, ".")
		if len(parts) != 3 {
			t.Fatalf("token %q is not a JWT", tr.Status.Token)
		}
		if err := json.Unmarshal(decodeSegment(t, parts[1]), &claims); err != nil {
			t.Fatal(err)
		}
		k8s := claims["kubernetes.io"].(map[string]any)
		if k8s["node"].(map[string]any)["name"] != "a" || k8s["pod"].(map[string]any)["name"] != "mine" {
			t.Fatalf("token claims %v", claims)
		}
		_, err = node.CoreV1().ServiceAccounts(ns).CreateToken(c, "runner", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		wantForbidden(t, err, "node requested token not bound to a pod")
		_, err = node.CoreV1().ServiceAccounts(ns).CreateToken(c, "default", req, metav1.CreateOptions{})
		wantForbidden(t, err, "no relationship found between node 'a' and this object")
	})

	t.Run("administrators unaffected", func(t *testing.T) {
		if _, err := admin.CoreV1().Secrets(ns).Get(c, "unused", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := admin.CoreV1().Nodes().Delete(c, "b", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	})
}
