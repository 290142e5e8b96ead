package node

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

const (
	leaseNamespace       = corev1.NamespaceNodeLease
	leaseDurationSeconds = 40
	// leaseRenewInterval is a quarter of the lease, as the kubelet renews.
	leaseRenewInterval = 10 * time.Second
)

// heartbeat keeps the Lease kube-node-lease/<node> renewed; the node
// lifecycle controller reads it to tell a live node from a dead one.
type heartbeat struct {
	n     *Node
	lease *coordinationv1.Lease // last one written, so renewals need no read
}

// run renews the lease every leaseRenewInterval, retrying failures sooner.
func (h *heartbeat) run(ctx context.Context, nodeUID func() types.UID) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := h.renew(ctx, nodeUID()); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.n.log.Warn("renewing node lease", "err", err)
			wait = time.Second
			continue
		}
		wait = leaseRenewInterval
	}
}

func (h *heartbeat) renew(ctx context.Context, uid types.UID) error {
	leases := h.n.cfg.Client.CoordinationV1().Leases(leaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	if h.lease == nil {
		current, err := leases.Get(ctx, h.n.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			created, err := leases.Create(ctx, h.desired(&coordinationv1.Lease{}, uid, now), metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("creating lease: %w", err)
			}
			h.lease = created
			return nil
		case err != nil:
			return fmt.Errorf("reading lease: %w", err)
		}
		h.lease = current
	}
	updated, err := leases.Update(ctx, h.desired(h.lease.DeepCopy(), uid, now), metav1.UpdateOptions{})
	if err != nil {
		h.lease = nil // read it again next time
		return fmt.Errorf("renewing lease: %w", err)
	}
	h.lease = updated
	return nil
}

func (h *heartbeat) desired(l *coordinationv1.Lease, uid types.UID, now metav1.MicroTime) *coordinationv1.Lease {
	l.Name, l.Namespace = h.n.cfg.NodeName, leaseNamespace
	l.Spec.HolderIdentity = ptr.To(h.n.cfg.NodeName)
	l.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDurationSeconds)
	l.Spec.RenewTime = &now
	if uid != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: h.n.cfg.NodeName, UID: uid}}
	}
	return l
}
