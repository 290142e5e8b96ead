package kubelet

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/runtime/pause"
)

// Config is everything the kubelet needs from the agent that runs it.
type Config struct {
	// NodeName is the Node this kubelet runs pods for.
	NodeName string
	// NodeIPs are the node's own addresses: the pods' hostIP(s) and the IPs
	// of hostNetwork pods. When empty they are read from the Node object.
	NodeIPs []string
	// Client carries the node's own credentials (the node authorizer limits
	// it to this node's pods and what they reference).
	Client  kubernetes.Interface
	Runtime internalapi.RuntimeService
	Images  internalapi.ImageManagerService

	// DataDir is <data-dir>/agent; pods live under DataDir/pods.
	DataDir string
	// PodLogsDir is where CRI container logs go (/var/log/pods).
	PodLogsDir string
	// StaticPodsDir holds static pod manifests; empty disables static pods.
	StaticPodsDir string

	ClusterDNS    []string
	ClusterDomain string
	// HostResolvConf is the node's resolv.conf used for dnsPolicy Default
	// (default /etc/resolv.conf).
	HostResolvConf string

	// RegistryAuth gives credentials for an image when no pull secret of
	// the pod matches it; may be nil.
	RegistryAuth func(image string) *runtimeapi.AuthConfig
	// Recorder receives the pod events; nil records through Client.
	Recorder EventRecorder

	// SandboxImage is protected from image garbage collection. Empty means
	// pause.Image, which kite builds and imports itself and never pulls.
	SandboxImage string
	// ImageGCHighThresholdPercent starts image garbage collection when the
	// image filesystem is fuller than this; it frees down to
	// ImageGCLowThresholdPercent. Defaults 85 and 80 as upstream.
	ImageGCHighThresholdPercent int
	ImageGCLowThresholdPercent  int

	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.NodeName == "" {
		return fmt.Errorf("kubelet config: node name is required")
	}
	if c.Client == nil || c.Runtime == nil || c.Images == nil {
		return fmt.Errorf("kubelet config: API client, runtime service and image service are required")
	}
	if c.DataDir == "" {
		return fmt.Errorf("kubelet config: data dir is required")
	}
	if c.PodLogsDir == "" {
		c.PodLogsDir = "/var/log/pods"
	}
	if c.HostResolvConf == "" {
		c.HostResolvConf = "/etc/resolv.conf"
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.SandboxImage == "" {
		c.SandboxImage = pause.Image
	}
	if c.ImageGCHighThresholdPercent == 0 {
		c.ImageGCHighThresholdPercent = 85
	}
	if c.ImageGCLowThresholdPercent == 0 {
		c.ImageGCLowThresholdPercent = 80
	}
	if c.ImageGCLowThresholdPercent >= c.ImageGCHighThresholdPercent {
		return fmt.Errorf("kubelet config: image GC low threshold %d%% must be below the high threshold %d%%",
			c.ImageGCLowThresholdPercent, c.ImageGCHighThresholdPercent)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// podsDir is where every pod keeps its volumes, hosts file and
// termination messages.
func (c *Config) podsDir() string { return filepath.Join(c.DataDir, "pods") }
