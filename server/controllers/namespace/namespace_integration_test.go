package namespace_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/server/servertest"
)

// TestIntegrationNamespaceDeletion: deleting a namespace deletes its
// contents and then the namespace itself; other namespaces are untouched.
func TestIntegrationNamespaceDeletion(t *testing.T) {
	s := servertest.Start(t, servertest.WithControllers)
	c, ctx := s.Client, context.Background()
	for _, ns := range []string{"doomed", "kept"} {
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a", "b"} {
			if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace still there after 30s (err %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cms, err := c.CoreV1().ConfigMaps("doomed").List(ctx, metav1.ListOptions{}); err != nil || len(cms.Items) != 0 {
		t.Fatalf("configmaps left in the deleted namespace: %v %v", cms, err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := c.CoreV1().ConfigMaps("kept").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("the other namespace lost configmap %s: %v", name, err)
		}
	}
}

// TestIntegrationNamespaceStuckFinalizer: content held by a finalizer keeps
// the namespace Terminating, and its conditions say what is left and why,
// in upstream's words; releasing the finalizer lets it go.
func TestIntegrationNamespaceStuckFinalizer(t *testing.T) {
	s := servertest.Start(t, servertest.WithControllers)
	c, ctx := s.Client, context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stuck"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
	if _, err := c.CoreV1().ConfigMaps("stuck").Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, "stuck", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceContentRemaining:         "SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances",
		corev1.NamespaceFinalizersRemaining:      "SomeFinalizersRemain: Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
		corev1.NamespaceDeletionContentFailure:   "ContentDeleted: All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered: All resources successfully discovered",
	}
	var got map[corev1.NamespaceConditionType]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		ns, err := c.CoreV1().Namespaces().Get(ctx, "stuck", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got = map[corev1.NamespaceConditionType]string{}
		for _, cond := range ns.Status.Conditions {
			got[cond.Type] = cond.Reason + ": " + cond.Message
		}
		matched := ns.Status.Phase == corev1.NamespaceTerminating
		for k, v := range want {
			matched = matched && got[k] == v
		}
		if matched {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conditions %v (phase %s), want %v", got, ns.Status.Phase, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cm, err := c.CoreV1().ConfigMaps("stuck").Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Finalizers = nil
	if _, err := c.CoreV1().ConfigMaps("stuck").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := c.CoreV1().Namespaces().Get(ctx, "stuck", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace still there after its content was released (err %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
