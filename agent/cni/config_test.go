package cni

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
)

func TestBuildConfList(t *testing.T) {
	valid := Config{PodCIDR: "10.42.3.0/24", ClusterCIDR: "10.42.0.0/16", MTU: 1450, HostLocalDataDir: "/var/lib/kite/agent/cni/networks"}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "valid", edit: func(*Config) {}},
		{name: "no cluster CIDR check", edit: func(c *Config) { c.ClusterCIDR = "" }},
		{name: "IPv6 pod CIDR", edit: func(c *Config) { c.PodCIDR, c.ClusterCIDR = "fd42:0:0:3::/64", "fd42::/48" }},
		{name: "bad pod CIDR", edit: func(c *Config) { c.PodCIDR = "10.42.3.0" }, wantErr: "is not a CIDR"},
		{name: "host bits", edit: func(c *Config) { c.PodCIDR = "10.42.3.1/24" }, wantErr: "host bits set"},
		{name: "outside cluster", edit: func(c *Config) { c.PodCIDR = "10.43.3.0/24" }, wantErr: "not inside the cluster CIDR"},
		{name: "wider than cluster", edit: func(c *Config) { c.PodCIDR = "10.0.0.0/8" }, wantErr: "not inside the cluster CIDR"},
		{name: "family mismatch", edit: func(c *Config) { c.PodCIDR = "fd42:0:0:3::/64" }, wantErr: "not inside the cluster CIDR"},
		{name: "bad cluster CIDR", edit: func(c *Config) { c.ClusterCIDR = "x" }, wantErr: "cluster CIDR"},
		{name: "too small", edit: func(c *Config) { c.PodCIDR, c.ClusterCIDR = "10.42.3.0/31", "" }, wantErr: "too small"},
		{name: "MTU zero", edit: func(c *Config) { c.MTU = 0 }, wantErr: "MTU"},
		{name: "MTU huge", edit: func(c *Config) { c.MTU = 70000 }, wantErr: "MTU"},
		{name: "no data dir", edit: func(c *Config) { c.HostLocalDataDir = "" }, wantErr: "data dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.edit(&c)
			data, err := BuildConfList(c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkConfList(t, data, c)
		})
	}
}

// checkConfList decodes the conflist generically and checks every setting
// kite relies on.
func checkConfList(t *testing.T, data []byte, c Config) {
	t.Helper()
	var doc struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.CNIVersion != "1.0.0" || doc.Name != "kite" || len(doc.Plugins) != 2 {
		t.Fatalf("conflist header = %q %q with %d plugins", doc.CNIVersion, doc.Name, len(doc.Plugins))
	}
	bridge, portmap := doc.Plugins[0], doc.Plugins[1]
	if _, set := bridge["promiscMode"]; set {
		t.Error("bridge sets promiscMode, which the plugin refuses together with hairpinMode")
	}
	for key, want := range map[string]any{
		"type": "bridge", "bridge": "kite0", "isGateway": true, "isDefaultGateway": true,
		"ipMasq": false, "hairpinMode": true, "mtu": float64(c.MTU),
	} {
		if bridge[key] != want {
			t.Errorf("bridge %s = %v, want %v", key, bridge[key], want)
		}
	}
	ipam := bridge["ipam"].(map[string]any)
	ranges := ipam["ranges"].([]any)[0].([]any)[0].(map[string]any)
	wantGateway := map[string]string{"10.42.3.0/24": "10.42.3.1", "fd42:0:0:3::/64": "fd42:0:0:3::1"}[c.PodCIDR]
	if ipam["type"] != "host-local" || ipam["dataDir"] != c.HostLocalDataDir || ranges["subnet"] != c.PodCIDR || ranges["gateway"] != wantGateway {
		t.Errorf("ipam = %v, want host-local on %s gateway %s in %s", ipam, c.PodCIDR, wantGateway, c.HostLocalDataDir)
	}
	if portmap["type"] != "portmap" || portmap["snat"] != true || portmap["capabilities"].(map[string]any)["portMappings"] != true {
		t.Errorf("portmap = %v", portmap)
	}
}

func TestWriteConfigOnlyWhenChanged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net.d")
	c := Config{PodCIDR: "10.42.3.0/24", ClusterCIDR: "10.42.0.0/16", MTU: 1500, HostLocalDataDir: t.TempDir()}
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ConfFileName)
	first, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if first.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", first.Mode().Perm())
	}
	// Backdate the file: an unchanged config must not be rewritten.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); !st.ModTime().Equal(old) {
		t.Errorf("unchanged config was rewritten (mtime %v, want %v)", st.ModTime(), old)
	}
	c.PodCIDR = "10.42.4.0/24"
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list.Bytes), "10.42.4.0/24") {
		t.Errorf("changed config not written: %s", list.Bytes)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("conf dir holds %d entries, want only the conflist (no temporary files)", len(entries))
	}
	if err := WriteConfig(dir, Config{PodCIDR: "bad", MTU: 1500, HostLocalDataDir: "x"}); err == nil {
		t.Error("invalid config was accepted")
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "10.42.4.0/24") {
		t.Error("invalid config replaced the valid file")
	}
}

// TestWriteConfigDefaultMTU checks that MTU 0 takes the node interface's MTU
// (read-only look at the host's interfaces).
func TestWriteConfigDefaultMTU(t *testing.T) {
	want, err := NodeMTU(nil)
	if err != nil {
		t.Skipf("this machine has no default route to take an MTU from: %v", err)
	}
	dir := t.TempDir()
	if err := WriteConfig(dir, Config{PodCIDR: "10.42.3.0/24", HostLocalDataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromFile(filepath.Join(dir, ConfFileName))
	if err != nil {
		t.Fatal(err)
	}
	var bridge struct {
		MTU int `json:"mtu"`
	}
	if err := json.Unmarshal(list.Plugins[0].Bytes, &bridge); err != nil {
		t.Fatal(err)
	}
	if bridge.MTU != want {
		t.Errorf("bridge MTU = %d, want the node's %d", bridge.MTU, want)
	}
}

// TestConfListValidatesWithPlugins runs libcni's validation against the
// real plugin binaries, which checks each plugin exists and supports the
// conflist's version.
func TestConfListValidatesWithPlugins(t *testing.T) {
	if _, err := os.Stat(filepath.Join(PluginDirs[0], "bridge")); err != nil {
		t.Skipf("CNI plugins not installed in %s", PluginDirs[0])
	}
	dir := t.TempDir()
	if err := WriteConfig(dir, Config{PodCIDR: "10.42.3.0/24", ClusterCIDR: "10.42.0.0/16", MTU: 1500, HostLocalDataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromFile(filepath.Join(dir, ConfFileName))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	caps, err := libcni.NewCNIConfigWithCacheDir(PluginDirs, t.TempDir(), nil).ValidateNetworkList(ctx, list)
	if err != nil {
		t.Fatalf("ValidateNetworkList: %v", err)
	}
	if len(caps) != 1 || caps[0] != "portMappings" {
		t.Errorf("capabilities = %v, want [portMappings]", caps)
	}
}
