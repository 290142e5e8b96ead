package main

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	"kite/agent"
	"kite/server"
)

// nodeOptions are the settings of the node an agent runs, shared by
// `kite server` (its in-process agent) and `kite agent`.
type nodeOptions struct {
	nodeName                 string
	nodeIP                   string
	nodeLabels               []string
	nodeTaints               []string
	containerRuntimeEndpoint string
	privateRegistry          string
	kubeletArgs              []string
	proxyMode                string
}

func addNodeFlags(fs *pflag.FlagSet, o *nodeOptions) {
	fs.StringVar(&o.nodeName, "node-name", "", "node name (default: this host's name)")
	fs.StringVar(&o.nodeIP, "node-ip", "", "node IP (default: the address of the interface with the default route)")
	fs.StringSliceVar(&o.nodeLabels, "node-label", nil, "label for this node, key=value (repeatable)")
	fs.StringSliceVar(&o.nodeTaints, "node-taint", nil, "taint for this node, key=value:Effect (repeatable)")
	fs.StringVar(&o.containerRuntimeEndpoint, "container-runtime-endpoint", "", "use this CRI socket instead of the embedded containerd")
	fs.StringVar(&o.privateRegistry, "private-registry", agent.DefaultPrivateRegistry, "registries.yaml with registry mirrors and credentials")
	fs.StringVar(&o.proxyMode, "proxy-mode", agent.ProxyModeIPTables, "service proxy data path: "+strings.Join(agent.ProxyModes, " or "))
	// An array, not a slice: eviction-hard values hold commas.
	fs.StringArrayVar(&o.kubeletArgs, "kubelet-arg", nil, kubeletArgHelp)
}

// nodeConfig settles this node's identity (name, address), its labels and
// taints and its runtime into the agent's configuration.
func nodeConfig(o *nodeOptions, host hostInfo) (agent.Config, error) {
	cfg := agent.Config{KubeletPort: agent.DefaultKubeletPort}
	name := o.nodeName
	if name == "" {
		hostname, err := host.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("cannot read the host name (%v); set --node-name", err)
		}
		// Node names are lower-case DNS names; host names are not always.
		name = strings.ToLower(hostname)
	}
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return cfg, fmt.Errorf("node name %q is not a lower-case DNS name (letters, digits, '-', '.'); set --node-name", name)
	}
	cfg.NodeName = name

	var err error
	if o.nodeIP == "" {
		if cfg.NodeIP = host.DefaultIP(); cfg.NodeIP == nil {
			return cfg, errors.New("this machine has no non-loopback IPv4 address to use as the node IP; set --node-ip")
		}
	} else if cfg.NodeIP, err = parseHostIP("--node-ip", o.nodeIP); err != nil {
		return cfg, err
	}

	for _, label := range o.nodeLabels {
		key, value, err := parseLabel(label)
		if err != nil {
			return cfg, err
		}
		if cfg.NodeLabels == nil {
			cfg.NodeLabels = map[string]string{}
		}
		cfg.NodeLabels[key] = value
	}
	for _, s := range o.nodeTaints {
		taint, err := parseTaint(s)
		if err != nil {
			return cfg, err
		}
		cfg.NodeTaints = append(cfg.NodeTaints, taint)
	}
	if o.containerRuntimeEndpoint != "" && !strings.HasPrefix(o.containerRuntimeEndpoint, "unix:///") && !strings.HasPrefix(o.containerRuntimeEndpoint, "/") {
		return cfg, fmt.Errorf("--container-runtime-endpoint %q is not a unix socket such as unix:///run/containerd/containerd.sock", o.containerRuntimeEndpoint)
	}
	cfg.ContainerRuntimeEndpoint = o.containerRuntimeEndpoint
	cfg.PrivateRegistry = o.privateRegistry
	if !slices.Contains(agent.ProxyModes, o.proxyMode) {
		return cfg, fmt.Errorf("--proxy-mode %q: want %s", o.proxyMode, strings.Join(agent.ProxyModes, " or "))
	}
	cfg.ProxyMode = o.proxyMode
	if err := applyKubeletArgs(o.kubeletArgs, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// checkNodeOptions settles the server's own node identity and the names in
// its serving certificate.
func checkNodeOptions(o *serverOptions, host hostInfo, cfg *server.Config) error {
	node, err := nodeConfig(&o.node, host)
	if err != nil {
		return err
	}
	cfg.NodeName, cfg.NodeIP = node.NodeName, node.NodeIP
	if o.advertiseAddress == "" {
		cfg.AdvertiseAddress = cfg.NodeIP
	} else if cfg.AdvertiseAddress, err = parseHostIP("--advertise-address", o.advertiseAddress); err != nil {
		return err
	}

	for _, san := range o.tlsSANs {
		san = strings.TrimSpace(san)
		if san == "" {
			continue
		}
		if ip := net.ParseIP(san); ip != nil {
			cfg.TLSSANs = append(cfg.TLSSANs, ip.String())
			continue
		}
		lower := strings.ToLower(san)
		if len(validation.IsDNS1123Subdomain(strings.TrimPrefix(lower, "*."))) > 0 {
			return fmt.Errorf("--tls-san %q is neither an IP address nor a DNS name", san)
		}
		cfg.TLSSANs = append(cfg.TLSSANs, lower)
	}
	return nil
}

// parseHostIP accepts an address other nodes and pods can reach this node
// at: not 0.0.0.0 or ::, and not loopback, which pods cannot reach on the
// host and which the kubernetes Service's endpoints may not hold.
func parseHostIP(flag, s string) (net.IP, error) {
	ip := net.ParseIP(strings.TrimSpace(s))
	switch {
	case ip == nil:
		return nil, fmt.Errorf("%s %q is not an IP address", flag, s)
	case ip.IsUnspecified():
		return nil, fmt.Errorf("%s %s is not an address other machines can reach; use this machine's network address", flag, ip)
	case ip.IsLoopback():
		return nil, fmt.Errorf("%s %s is a loopback address, which pods and other nodes cannot reach; use this machine's network address", flag, ip)
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4, nil
	}
	return ip, nil
}

// parseLabel accepts key=value with Kubernetes label syntax.
func parseLabel(label string) (key, value string, err error) {
	key, value, ok := strings.Cut(label, "=")
	if !ok || len(content.IsLabelKey(key)) > 0 || len(content.IsLabelValue(value)) > 0 {
		return "", "", fmt.Errorf("--node-label %q is not a label such as example.com/role=db", label)
	}
	return key, value, nil
}

var taintEffects = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}

// parseTaint accepts key[=value]:Effect, as kubectl taint does.
func parseTaint(taint string) (corev1.Taint, error) {
	bad := fmt.Errorf("--node-taint %q is not a taint such as dedicated=db:NoSchedule (effects: %s)", taint, strings.Join(taintEffects, ", "))
	kv, effect, ok := strings.Cut(taint, ":")
	if !ok {
		return corev1.Taint{}, bad
	}
	key, value, _ := strings.Cut(kv, "=")
	if !slices.Contains(taintEffects, effect) || len(content.IsLabelKey(key)) > 0 || len(content.IsLabelValue(value)) > 0 {
		return corev1.Taint{}, bad
	}
	return corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)}, nil
}
