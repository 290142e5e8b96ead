// Package agent runs one node: it joins the cluster, starts the container
// runtime, sets up the pod network and runs the kubelet. `kite agent` runs
// it alone; `kite server` runs it beside the control plane.
package agent

import (
	"net"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"kite/agent/kubelet/node"
)

// Config is everything an agent needs; the CLI fills and validates it.
type Config struct {
	DataDir   string // root of all state, e.g. /var/lib/kite; the agent keeps its own under <DataDir>/agent
	ServerURL string // API server to join, e.g. https://10.0.0.1:6443
	Token     string // join token: the full K10... form or the bare secret
	NodeName  string
	NodeIP    net.IP
	// NodeLabels and NodeTaints are registered with the Node (--node-label,
	// --node-taint).
	NodeLabels map[string]string
	NodeTaints []corev1.Taint
	// ControlPlane marks a server's node with node-role.kubernetes.io/control-plane.
	ControlPlane bool
	// ContainerRuntimeEndpoint, when set, is an existing CRI socket used
	// instead of the embedded containerd.
	ContainerRuntimeEndpoint string
	// PrivateRegistry is the registries.yaml with mirrors and credentials.
	PrivateRegistry string
	// ProxyMode is the service proxy's data path: ProxyModeIPTables (the
	// default when empty) or ProxyModeNFTables.
	ProxyMode string
	// KubeletPort is where the kubelet API listens (10250).
	KubeletPort int
	// Eviction are the hard eviction thresholds (--kubelet-arg
	// eviction-hard); nil means the defaults.
	Eviction *node.EvictionThresholds
	// ImageGCHighThresholdPercent and ImageGCLowThresholdPercent bound the
	// image garbage collector (--kubelet-arg image-gc-high-threshold and
	// image-gc-low-threshold); zero means the defaults, 85 and 80.
	ImageGCHighThresholdPercent int
	ImageGCLowThresholdPercent  int
}

// DefaultKubeletPort is the kubelet API port every Kubernetes tool expects.
const DefaultKubeletPort = 10250

// DefaultPrivateRegistry is where registry mirrors and credentials live.
const DefaultPrivateRegistry = "/etc/kite/registries.yaml"

// podLogsDir is where container logs go; kubectl logs, log shippers and
// users all look here.
const podLogsDir = "/var/log/pods"

func (c Config) agentDir() string { return filepath.Join(c.DataDir, "agent") }
