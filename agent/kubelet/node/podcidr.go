package node

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// WaitForPodCIDR watches this Node until the server has given it a pod
// CIDR (spec.podCIDR, set by the node IPAM controller) and returns it.
func (n *Node) WaitForPodCIDR(ctx context.Context) (string, error) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	selector := fields.OneTermEqualSelector("metadata.name", n.cfg.NodeName).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return nodes.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return nodes.Watch(ctx, opts)
		},
	}
	var cidr string
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		node, ok := ev.Object.(*corev1.Node)
		if !ok || ev.Type == watch.Deleted {
			return false, nil
		}
		cidr = node.Spec.PodCIDR
		return cidr != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("waiting for node %s to get a pod CIDR: %w", n.cfg.NodeName, err)
	}
	n.log.Info("node has a pod CIDR", "podCIDR", cidr)
	return cidr, nil
}
