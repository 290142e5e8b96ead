package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	"kite/server"
)

// checkNodeOptions settles this node's identity: name, addresses, the
// names in its serving certificate, and its labels and taints.
func checkNodeOptions(o *serverOptions, host hostInfo, cfg *server.Config) error {
	name := o.nodeName
	if name == "" {
		hostname, err := host.Hostname()
		if err != nil {
			return fmt.Errorf("cannot read the host name (%v); set --node-name", err)
		}
		// Node names are lower-case DNS names; host names are not always.
		name = strings.ToLower(hostname)
	}
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return fmt.Errorf("node name %q is not a lower-case DNS name (letters, digits, '-', '.'); set --node-name", name)
	}
	cfg.NodeName = name

	var err error
	if o.nodeIP == "" {
		if cfg.NodeIP = host.DefaultIP(); cfg.NodeIP == nil {
			return errors.New("this machine has no non-loopback IPv4 address to use as the node IP; set --node-ip")
		}
	} else if cfg.NodeIP, err = parseHostIP("--node-ip", o.nodeIP); err != nil {
		return err
	}
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

	for _, label := range o.nodeLabels {
		if err := checkLabel(label); err != nil {
			return err
		}
	}
	for _, taint := range o.nodeTaints {
		if err := checkTaint(taint); err != nil {
			return err
		}
	}
	if o.containerRuntimeEndpoint != "" && !strings.HasPrefix(o.containerRuntimeEndpoint, "unix:///") && !strings.HasPrefix(o.containerRuntimeEndpoint, "/") {
		return fmt.Errorf("--container-runtime-endpoint %q is not a unix socket such as unix:///run/containerd/containerd.sock", o.containerRuntimeEndpoint)
	}
	// server.Config has no fields for these agent settings yet; say so
	// rather than drop them silently.
	if len(o.nodeLabels) > 0 || len(o.nodeTaints) > 0 || o.containerRuntimeEndpoint != "" {
		slog.Warn("--node-label, --node-taint and --container-runtime-endpoint are not used by this build yet")
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

// checkLabel accepts key=value with Kubernetes label syntax.
func checkLabel(label string) error {
	key, value, ok := strings.Cut(label, "=")
	if !ok || len(content.IsLabelKey(key)) > 0 || len(content.IsLabelValue(value)) > 0 {
		return fmt.Errorf("--node-label %q is not a label such as example.com/role=db", label)
	}
	return nil
}

var taintEffects = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}

// checkTaint accepts key[=value]:Effect, as kubectl taint does.
func checkTaint(taint string) error {
	bad := fmt.Errorf("--node-taint %q is not a taint such as dedicated=db:NoSchedule (effects: %s)", taint, strings.Join(taintEffects, ", "))
	kv, effect, ok := strings.Cut(taint, ":")
	if !ok {
		return bad
	}
	key, value, _ := strings.Cut(kv, "=")
	if !slices.Contains(taintEffects, effect) || len(content.IsLabelKey(key)) > 0 || len(content.IsLabelValue(value)) > 0 {
		return bad
	}
	return nil
}
