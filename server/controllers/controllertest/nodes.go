package controllertest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// CreateNode creates node and then, as a kubelet would, posts its status
// (a create does not store one).
func CreateNode(t testing.TB, c kubernetes.Interface, node *corev1.Node) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node %s: %v", node.Name, err)
	}
	created.Status = node.Status
	updated, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("node %s status: %v", node.Name, err)
	}
	return updated
}

// ReadyNode creates the node name, changed by opts, whose kubelet has
// just reported it Ready: its first condition is Ready, heartbeated now.
func ReadyNode(t testing.TB, c kubernetes.Interface, name string, opts ...func(*corev1.Node)) *corev1.Node {
	t.Helper()
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now},
		}},
	}
	for _, o := range opts {
		o(node)
	}
	return CreateNode(t, c, node)
}

// UpdateNode changes node name with change, retrying on conflicts.
func UpdateNode(t testing.TB, c kubernetes.Interface, name string, change func(*corev1.Node)) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	var updated *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(node)
		updated, err = c.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("updating node %s: %v", name, err)
	}
	return updated
}
