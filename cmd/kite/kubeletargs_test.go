package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kite/agent/kubelet/node"
)

func TestKubeletArgs(t *testing.T) {
	o, flags := newAgentFlags()
	args := []string{
		"--kubelet-arg", "eviction-hard=nodefs.available<5%,memory.available<200Mi",
		"--kubelet-arg=--image-gc-high-threshold=90",
		"--kubelet-arg", "image-gc-low-threshold=70",
	}
	if err := flags.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := nodeConfig(&o.node, testHost)
	if err != nil {
		t.Fatal(err)
	}
	want := node.DefaultEvictionThresholds()
	want.NodefsAvailable = node.Threshold{Percent: 5}
	want.MemoryAvailable = node.Threshold{Quantity: 200 << 20}
	if cfg.Eviction == nil || *cfg.Eviction != want {
		t.Errorf("eviction = %+v, want %+v", cfg.Eviction, want)
	}
	if cfg.ImageGCHighThresholdPercent != 90 || cfg.ImageGCLowThresholdPercent != 70 {
		t.Errorf("image GC thresholds = %d/%d, want 90/70", cfg.ImageGCHighThresholdPercent, cfg.ImageGCLowThresholdPercent)
	}

	// No --kubelet-arg: the kubelet's defaults apply downstream.
	o, _ = newAgentFlags()
	if cfg, err = nodeConfig(&o.node, testHost); err != nil || cfg.Eviction != nil || cfg.ImageGCHighThresholdPercent != 0 {
		t.Errorf("without --kubelet-arg: %+v, %v", cfg, err)
	}
}

func TestKubeletArgsFromConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("kubelet-arg:\n  - eviction-hard=nodefs.available<1Gi,nodefs.inodesFree<1%\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, flags := newAgentFlags()
	if err := flags.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	if err := layerFlags(flags, &o.configFile, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	cfg, err := nodeConfig(&o.node, testHost)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Eviction == nil || cfg.Eviction.NodefsAvailable != (node.Threshold{Quantity: 1 << 30}) || cfg.Eviction.NodefsInodesFree != (node.Threshold{Percent: 1}) {
		t.Errorf("eviction from the config file = %+v", cfg.Eviction)
	}
}

func TestKubeletArgErrors(t *testing.T) {
	for arg, want := range map[string]string{
		"max-pods=50":                          `does not implement "max-pods"`,
		"eviction-hard":                        "want name=value",
		"eviction-hard=nodefs.available>5%":    "want signal<value",
		"image-gc-high-threshold=101":          "not a whole percentage",
		"image-gc-low-threshold=eighty":        "not a whole percentage",
		"eviction-hard=memory.available<-1Mi,": "neither a percentage nor",
	} {
		o, flags := newAgentFlags()
		if err := flags.Parse([]string{"--kubelet-arg", arg}); err != nil {
			t.Fatal(err)
		}
		_, err := nodeConfig(&o.node, testHost)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--kubelet-arg %s: error %v, want one containing %q", arg, err, want)
		}
	}
}
