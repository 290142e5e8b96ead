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
	if cms, err := c.CoreV1().ConfigMaps("kept").List(ctx, metav1.ListOptions{}); err != nil || len(cms.Items) != 2 {
		t.Fatalf("the other namespace lost objects: %v %v", cms, err)
	}
}
