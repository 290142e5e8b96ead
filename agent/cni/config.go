// Package cni sets up the pod network of a kite node: the CNI configuration
// containerd's CRI plugin uses for every sandbox, the iptables rules that let
// pods reach the world, and the kernel routes that carry pod traffic to the
// other nodes.
package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"kite/internal/atomicfile"
)

// Names other parts of kite (the containerd config, tests, docs) rely on.
const (
	// NetworkName is the name of the CNI network list.
	NetworkName = "kite"
	// BridgeName is the Linux bridge every pod's veth is attached to.
	BridgeName = "kite0"
	// ConfFileName is the conflist written into the CNI conf dir.
	ConfFileName = "10-kite.conflist"
	// CNIVersion is the spec version of the written conflist.
	CNIVersion = "1.0.0"
)

// PluginDirs lists where CNI plugin binaries are looked up, in order:
// Debian's containernetworking-plugins first, then the upstream location.
var PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// Config describes this node's pod network.
type Config struct {
	// PodCIDR is node.spec.podCIDR, e.g. "10.42.1.0/24".
	PodCIDR string
	// ClusterCIDR is the whole pod network, e.g. "10.42.0.0/16"; PodCIDR
	// must lie inside it. Empty skips that check.
	ClusterCIDR string
	// MTU of the bridge and pod interfaces; 0 means the MTU of the node's
	// interface (the one holding NodeIP, else the default route's).
	MTU int
	// NodeIP picks the interface whose MTU is used when MTU is 0.
	NodeIP net.IP
	// HostLocalDataDir is where host-local IPAM records its allocations,
	// <data-dir>/agent/cni/networks.
	HostLocalDataDir string
}

// The plugin configurations below carry the plugin-specific keys of the
// reference plugins; libcni's own types give the IPAM and subnet encodings,
// and BuildConfList reads the result back through libcni to check it.
// (types.PluginConf is not embedded: its MarshalJSON would be promoted and
// drop every plugin-specific key.)

type bridgeConf struct {
	Type             string        `json:"type"`
	Bridge           string        `json:"bridge"`
	IsGateway        bool          `json:"isGateway"`
	IsDefaultGateway bool          `json:"isDefaultGateway"`
	IPMasq           bool          `json:"ipMasq"`
	HairpinMode      bool          `json:"hairpinMode"`
	MTU              int           `json:"mtu"`
	IPAM             hostLocalIPAM `json:"ipam"`
}

type hostLocalIPAM struct {
	types.IPAM
	Ranges  [][]hostLocalRange `json:"ranges"`
	DataDir string             `json:"dataDir"`
}

type hostLocalRange struct {
	Subnet  types.IPNet `json:"subnet"`
	Gateway net.IP      `json:"gateway"`
}

type portmapConf struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
	SNAT         bool            `json:"snat"`
}

type confList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

// BuildConfList renders the conflist for c and checks that libcni parses it
// back into the expected network. The MTU must already be resolved.
//
// Left out on purpose: "loopback" (containerd's CRI plugin brings lo up in
// every sandbox itself), "bandwidth" (pod traffic shaping through the
// kubernetes.io/*-bandwidth annotations, not offered yet) and "firewall"
// (its FORWARD accept rules are what Masquerade's KITE-FORWARD chain does
// once for the whole cluster CIDR).
func BuildConfList(c Config) ([]byte, error) {
	podNet, err := parseIPv4or6CIDR("pod CIDR", c.PodCIDR)
	if err != nil {
		return nil, err
	}
	if c.ClusterCIDR != "" {
		clusterNet, err := parseIPv4or6CIDR("cluster CIDR", c.ClusterCIDR)
		if err != nil {
			return nil, err
		}
		if !cidrContains(clusterNet, podNet) {
			return nil, fmt.Errorf("pod CIDR %s is not inside the cluster CIDR %s", podNet, clusterNet)
		}
	}
	if c.MTU < 576 || c.MTU > 65535 {
		return nil, fmt.Errorf("MTU %d is out of range (576-65535)", c.MTU)
	}
	if c.HostLocalDataDir == "" {
		return nil, errors.New("host-local data dir is empty")
	}
	gateway, err := firstHost(podNet)
	if err != nil {
		return nil, err
	}

	bridge := bridgeConf{
		Type:             "bridge",
		Bridge:           BridgeName,
		IsGateway:        true,
		IsDefaultGateway: true,
		// Masquerading is done by Masquerade, which knows the cluster CIDR
		// and so leaves pod-to-pod traffic across nodes untouched.
		IPMasq: false,
		// A pod reaching itself through a Service gets its own packets back
		// on the port they left by. The bridge plugin offers this either as
		// hairpin mode on each port or as a promiscuous bridge, never both;
		// per-port hairpin is kubelet's default ("hairpin-veth").
		HairpinMode: true,
		MTU:         c.MTU,
		IPAM: hostLocalIPAM{
			IPAM:    types.IPAM{Type: "host-local"},
			Ranges:  [][]hostLocalRange{{{Subnet: types.IPNet(*podNet), Gateway: gateway}}},
			DataDir: c.HostLocalDataDir,
		},
	}
	portmap := portmapConf{
		Type:         "portmap",
		Capabilities: map[string]bool{"portMappings": true},
		SNAT:         true,
	}
	data, err := json.MarshalIndent(confList{
		CNIVersion: CNIVersion,
		Name:       NetworkName,
		Plugins:    []any{bridge, portmap},
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode CNI config: %w", err)
	}
	data = append(data, '\n')

	list, err := libcni.NetworkConfFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("CNI config does not parse: %w", err)
	}
	if err := checkParsedList(list); err != nil {
		return nil, err
	}
	return data, nil
}

// WriteConfig writes <confDir>/10-kite.conflist for c. The file is replaced
// atomically (containerd watches the directory and must never read half a
// file) and only when its content changes.
func WriteConfig(confDir string, c Config) error {
	if c.MTU == 0 {
		mtu, err := NodeMTU(c.NodeIP)
		if err != nil {
			slog.Warn("cannot find the node interface's MTU; using 1500", "component", "cni", "err", err)
			mtu = 1500
		}
		c.MTU = mtu
	}
	data, err := BuildConfList(c)
	if err != nil {
		return err
	}
	path := filepath.Join(confDir, ConfFileName)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return fmt.Errorf("create CNI conf dir: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	slog.Info("wrote CNI config", "component", "cni", "path", path, "podCIDR", c.PodCIDR, "mtu", c.MTU)
	return nil
}

// checkParsedList confirms that libcni sees the network kite means to write:
// its name and version, and the two plugins in order with their IPAM and
// capabilities.
func checkParsedList(list *libcni.NetworkConfigList) error {
	if list.Name != NetworkName || list.CNIVersion != CNIVersion {
		return fmt.Errorf("CNI config parsed as network %q version %q", list.Name, list.CNIVersion)
	}
	want := []struct{ plugin, ipam, capability string }{
		{"bridge", "host-local", ""},
		{"portmap", "", "portMappings"},
	}
	if len(list.Plugins) != len(want) {
		return fmt.Errorf("CNI config parsed with %d plugins, want %d", len(list.Plugins), len(want))
	}
	for i, w := range want {
		got := list.Plugins[i].Network
		if got.Type != w.plugin || got.IPAM.Type != w.ipam || (w.capability != "" && !got.Capabilities[w.capability]) {
			return fmt.Errorf("CNI config plugin %d parsed as %q (ipam %q, capabilities %v)", i, got.Type, got.IPAM.Type, got.Capabilities)
		}
	}
	return nil
}
