package cni

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// sysctlDir is where the kernel exposes the settings below. Network ones are
// per network namespace: they apply to the namespace of the calling thread.
const sysctlDir = "/proc/sys"

// setSysctl sets name (slash-separated, "net/ipv4/ip_forward") to value,
// writing only when it differs.
func setSysctl(name, value string) error {
	path := filepath.Join(sysctlDir, name)
	current, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if string(bytes.TrimSpace(current)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s to %s: %w", path, value, err)
	}
	return nil
}

// enableForwarding turns on IP forwarding, without which no pod traffic
// leaves the node.
func enableForwarding(ipv6 bool) error {
	if ipv6 {
		return setSysctl("net/ipv6/conf/all/forwarding", "1")
	}
	return setSysctl("net/ipv4/ip_forward", "1")
}

// enableBridgeNetfilter makes frames bridged between pods pass through
// iptables, which Service DNAT between pods on the same node depends on.
// It loads br_netfilter when the kernel has it as a module.
func enableBridgeNetfilter(ipv6 bool) error {
	name := "net/bridge/bridge-nf-call-iptables"
	if ipv6 {
		name = "net/bridge/bridge-nf-call-ip6tables"
	}
	if _, err := os.Stat(filepath.Join(sysctlDir, name)); os.IsNotExist(err) {
		out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput()
		if err != nil {
			return fmt.Errorf("load br_netfilter: %w: %s", err, bytes.TrimSpace(out))
		}
	}
	return setSysctl(name, "1")
}
