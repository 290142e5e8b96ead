package main

import (
	"fmt"
	"strconv"
	"strings"

	"kite/agent"
	"kite/agent/kubelet/node"
)

// kubeletArgHelp lists the kubelet flags --kubelet-arg understands.
const kubeletArgHelp = "kubelet setting, name=value, as k3s's --kubelet-arg (repeatable): " +
	"eviction-hard (e.g. nodefs.available<5%,memory.available<200Mi), image-gc-high-threshold, image-gc-low-threshold"

// applyKubeletArgs reads k3s-style --kubelet-arg name=value settings into
// the agent's configuration. Only the kubelet flags kite implements are
// accepted: silently ignoring the others would leave users believing a
// setting is in force.
func applyKubeletArgs(args []string, cfg *agent.Config) error {
	for _, arg := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(arg), "--"), "=")
		if !ok {
			return fmt.Errorf("--kubelet-arg %q: want name=value, such as eviction-hard=nodefs.available<5%%", arg)
		}
		switch name {
		case "eviction-hard":
			base := node.DefaultEvictionThresholds()
			if cfg.Eviction != nil {
				base = *cfg.Eviction
			}
			e, err := node.ParseEvictionHard(value, base)
			if err != nil {
				return fmt.Errorf("--kubelet-arg %s: %w", name, err)
			}
			cfg.Eviction = &e
		case "image-gc-high-threshold", "image-gc-low-threshold":
			pct, err := strconv.Atoi(value)
			if err != nil || pct < 0 || pct > 100 {
				return fmt.Errorf("--kubelet-arg %s: %q is not a whole percentage from 0 to 100", name, value)
			}
			if name == "image-gc-high-threshold" {
				cfg.ImageGCHighThresholdPercent = pct
			} else {
				cfg.ImageGCLowThresholdPercent = pct
			}
		default:
			return fmt.Errorf("--kubelet-arg %q: kite's kubelet does not implement %q (it takes eviction-hard, image-gc-high-threshold, image-gc-low-threshold)", arg, name)
		}
	}
	return nil
}
