// Package node registers this machine as a Kubernetes Node and keeps it
// alive: the Node object with its labels, taints, capacity and conditions,
// the status updates, and the heartbeat Lease in kube-node-lease.
package node

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	internalapi "k8s.io/cri-api/pkg/apis"
)

// Config is what the node registrar needs.
type Config struct {
	NodeName string
	// Client acts with the node's own credentials.
	Client kubernetes.Interface
	// NodeIPs become InternalIP addresses, Hostname the Hostname address
	// and the kubernetes.io/hostname label.
	NodeIPs  []net.IP
	Hostname string
	// Labels and Taints come from --node-label and --node-taint. Taints
	// are registered only when the Node is created, as the kubelet does,
	// so taints changed later through the API are kept.
	Labels map[string]string
	Taints []corev1.Taint
	// ControlPlane adds node-role.kubernetes.io/control-plane=true.
	ControlPlane bool
	// KubeletPort is published in status.daemonEndpoints (10250).
	KubeletPort int
	Runtime     internalapi.RuntimeService
	Images      internalapi.ImageManagerService
	// DataDir is the agent's state directory: its file system is the
	// node's ephemeral storage (and image store), watched for pressure.
	DataDir string
	// Eviction are the hard eviction thresholds behind the pressure
	// conditions; nil means DefaultEvictionThresholds.
	Eviction *EvictionThresholds
}

// KubeletVersion is what the node reports as status.nodeInfo.kubeletVersion.
var KubeletVersion = "v1.37.2+kite"

func (c Config) hostname() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	return c.NodeName
}

func (c Config) addresses() []corev1.NodeAddress {
	var out []corev1.NodeAddress
	for _, ip := range c.NodeIPs {
		if ip != nil {
			out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
		}
	}
	return append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: c.hostname()})
}
