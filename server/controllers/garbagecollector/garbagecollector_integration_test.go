package garbagecollector_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"kite/server/servertest"
)

// TestIntegrationGarbageCollector drives the collector through a real
// server: background, foreground and orphan deletion of an owner, and a
// dependent whose owner never existed.
func TestIntegrationGarbageCollector(t *testing.T) {
	s := servertest.Start(t, servertest.WithControllers)
	c := s.Client
	ctx := context.Background()
	cms := c.CoreV1().ConfigMaps("default")

	owned := func(t *testing.T, owner, dep string) *corev1.ConfigMap {
		t.Helper()
		o, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: owner}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: dep, OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "ConfigMap", Name: owner, UID: o.UID},
		}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	deleteWith := func(t *testing.T, name string, policy metav1.DeletionPropagation) {
		t.Helper()
		if err := cms.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("background", func(t *testing.T) {
		owned(t, "bg-owner", "bg-dep")
		deleteWith(t, "bg-owner", metav1.DeletePropagationBackground)
		waitGone(t, c, "bg-dep")
	})
	t.Run("foreground", func(t *testing.T) {
		owned(t, "fg-owner", "fg-dep")
		deleteWith(t, "fg-owner", metav1.DeletePropagationForeground)
		waitGone(t, c, "fg-dep")
		waitGone(t, c, "fg-owner")
	})
	t.Run("orphan", func(t *testing.T) {
		dep := owned(t, "or-owner", "or-dep")
		deleteWith(t, "or-owner", metav1.DeletePropagationOrphan)
		waitGone(t, c, "or-owner")
		got, err := cms.Get(ctx, "or-dep", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned dependent: %v", err)
		}
		if got.UID != dep.UID || len(got.OwnerReferences) != 0 {
			t.Fatalf("orphaned dependent: uid %s (want %s), ownerReferences %v", got.UID, dep.UID, got.OwnerReferences)
		}
	})
	t.Run("owner never existed", func(t *testing.T) {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dangling", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "ConfigMap", Name: "nobody", UID: types.UID("00000000-0000-0000-0000-000000000001")},
		}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, "dangling")
	})
	t.Run("live owner keeps its dependent", func(t *testing.T) {
		owned(t, "live-owner", "live-dep")
		// The collector checks new dependents after a second; give it
		// three, then the dependent must still be there.
		time.Sleep(3 * time.Second)
		if _, err := cms.Get(ctx, "live-dep", metav1.GetOptions{}); err != nil {
			t.Fatalf("dependent of a live owner: %v", err)
		}
	})
}

func waitGone(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.CoreV1().ConfigMaps("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists after 20s (err %v)", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
