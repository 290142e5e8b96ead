package node

import (
	"context"
	"fmt"
	goruntime "runtime"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// controlPlaneLabel marks a server's node, as kubeadm and k3s do.
const controlPlaneLabel = "node-role.kubernetes.io/control-plane"

// labels are the labels this node owns: the well-known ones the kubelet
// sets, then the user's --node-label values.
func (c Config) labels() map[string]string {
	out := map[string]string{
		corev1.LabelHostname:               c.hostname(),
		corev1.LabelOSStable:               goruntime.GOOS,
		corev1.LabelArchStable:             goruntime.GOARCH,
		"beta.kubernetes.io/os":            goruntime.GOOS,
		"beta.kubernetes.io/arch":          goruntime.GOARCH,
		"node.kubernetes.io/instance-type": "kite",
	}
	if c.ControlPlane {
		out[controlPlaneLabel] = "true"
	}
	for k, v := range c.Labels {
		out[k] = v
	}
	return out
}

// annotations the kubelet sets at registration: volumes are attached by
// the controller, not by the kubelet.
func (c Config) annotations() map[string]string {
	return map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"}
}

// register creates the Node, or brings an existing one's labels and
// annotations up to date (keeping its spec: taints, podCIDR and
// unschedulable belong to the cluster once the Node exists). It returns
// the Node as stored.
func (n *Node) register(ctx context.Context, status corev1.NodeStatus) (*corev1.Node, error) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.cfg.NodeName, Labels: n.cfg.labels(), Annotations: n.cfg.annotations()},
		Spec:       corev1.NodeSpec{Taints: n.cfg.Taints},
		Status:     status,
	}
	created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		n.log.Info("registered node", "node", n.cfg.NodeName)
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("registering node %s: %w", n.cfg.NodeName, err)
	}
	var existing *corev1.Node
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		current, err := nodes.Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		next := current.DeepCopy()
		labelsChanged := mergeInto(&next.Labels, want.Labels)
		annotationsChanged := mergeInto(&next.Annotations, want.Annotations)
		if !labelsChanged && !annotationsChanged {
			existing = current
			return nil
		}
		existing, err = nodes.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("updating existing node %s: %w", n.cfg.NodeName, err)
	}
	n.log.Info("node already registered; labels reconciled", "node", n.cfg.NodeName)
	return existing, nil
}

// mergeInto sets every key of want in *m and reports whether it changed.
func mergeInto(m *map[string]string, want map[string]string) bool {
	changed := false
	for k, v := range want {
		if cur, ok := (*m)[k]; ok && cur == v {
			continue
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = v
		changed = true
	}
	return changed
}
