package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/serviceaccount"
)

func ctx() context.Context { return context.Background() }

// waitDefault waits for a default ServiceAccount in ns other than the one
// with UID not, and returns it.
func waitDefault(t *testing.T, c kubernetes.Interface, ns string, not types.UID) *corev1.ServiceAccount {
	t.Helper()
	var sa *corev1.ServiceAccount
	err := wait.PollUntilContextTimeout(ctx(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var err error
		sa, err = c.CoreV1().ServiceAccounts(ns).Get(ctx(), serviceaccount.DefaultName, metav1.GetOptions{})
		return err == nil && sa.UID != not, nil
	})
	if err != nil {
		t.Fatalf("no default service account in %s", ns)
	}
	return sa
}

func TestIntegrationServiceAccounts(t *testing.T) {
	s, cc := controllertest.Start(t)
	c := s.Client
	// A namespace that existed before the controller started.
	controllertest.Namespace(t, c, "early")
	controllertest.Run(t, cc, serviceaccount.New(cc))

	waitDefault(t, c, "early", "")
	waitDefault(t, c, "kube-system", "")

	if _, err := c.CoreV1().Namespaces().Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := waitDefault(t, c, "fresh", "")

	// Deleted: created again.
	if err := c.CoreV1().ServiceAccounts("fresh").Delete(ctx(), serviceaccount.DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDefault(t, c, "fresh", first.UID)

	// A terminating namespace (no namespace controller runs here, so it
	// stays terminating) does not get its default ServiceAccount back.
	if err := c.CoreV1().Namespaces().Delete(ctx(), "early", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		ns, err := c.CoreV1().Namespaces().Get(ctx(), "early", metav1.GetOptions{})
		return err == nil && ns.Status.Phase == corev1.NamespaceTerminating, nil
	})
	if err != nil {
		t.Fatalf("namespace early not terminating: %v", err)
	}
	if err := c.CoreV1().ServiceAccounts("early").Delete(ctx(), serviceaccount.DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Once a later deletion elsewhere has been repaired, the earlier one
	// has been looked at too (one worker, in order).
	again := waitDefault(t, c, "fresh", "")
	if err := c.CoreV1().ServiceAccounts("fresh").Delete(ctx(), serviceaccount.DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDefault(t, c, "fresh", again.UID)
	if _, err := c.CoreV1().ServiceAccounts("early").Get(ctx(), serviceaccount.DefaultName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("default service account in a terminating namespace: err %v, want NotFound", err)
	}
}
