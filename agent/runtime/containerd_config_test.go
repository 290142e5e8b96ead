package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/pelletier/go-toml/v2"
)

func TestRenderContainerdConfig(t *testing.T) {
	dataDir := t.TempDir()
	cfg, err := Config{DataDir: dataDir}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p := newPaths(cfg.DataDir)
	auths := map[string]criAuth{"registry.example.com:5000": {Username: "u", Password: "p"}}
	data, err := renderContainerdConfig(cfg, p, auths)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("generated config is not TOML: %v\n%s", err, data)
	}

	tests := []struct {
		path []string
		want any
	}{
		{[]string{"version"}, int64(4)},
		{[]string{"root"}, filepath.Join(dataDir, "agent", "containerd", "root")},
		{[]string{"state"}, filepath.Join(dataDir, "agent", "containerd", "state")},
		{[]string{"imports"}, []any{}},
		{[]string{"plugins", "io.containerd.server.v1.grpc", "address"}, filepath.Join(dataDir, "agent", "containerd", "containerd.sock")},
		{[]string{"plugins", "io.containerd.server.v1.ttrpc", "address"}, filepath.Join(dataDir, "agent", "containerd", "containerd.sock.ttrpc")},
		{[]string{"plugins", "io.containerd.cri.v1.images", "snapshotter"}, "overlayfs"},
		{[]string{"plugins", "io.containerd.cri.v1.images", "pinned_images", "sandbox"}, "kite.local/pause:3.10"},
		{[]string{"plugins", "io.containerd.cri.v1.images", "registry", "config_path"}, filepath.Join(dataDir, "agent", "etc", "containerd", "certs.d")},
		{[]string{"plugins", "io.containerd.cri.v1.images", "registry", "configs", "registry.example.com:5000", "auth", "username"}, "u"},
		{[]string{"plugins", "io.containerd.cri.v1.images", "registry", "configs", "registry.example.com:5000", "auth", "password"}, "p"},
		{[]string{"plugins", "io.containerd.cri.v1.runtime", "restrict_oom_score_adj"}, true},
		{[]string{"plugins", "io.containerd.cri.v1.runtime", "containerd", "default_runtime_name"}, "runc"},
		{[]string{"plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "runtime_type"}, "io.containerd.runc.v2"},
		{[]string{"plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options", "SystemdCgroup"}, false},
		{[]string{"plugins", "io.containerd.cri.v1.runtime", "cni", "bin_dirs"}, []any{"/usr/lib/cni", "/opt/cni/bin"}},
		{[]string{"plugins", "io.containerd.cri.v1.runtime", "cni", "conf_dir"}, filepath.Join(dataDir, "agent", "etc", "cni", "net.d")},
		{[]string{"plugins", "io.containerd.grpc.v1.cri", "stream_server_address"}, "127.0.0.1"},
		{[]string{"plugins", "io.containerd.grpc.v1.cri", "stream_server_port"}, "0"},
		{[]string{"plugins", "io.containerd.transfer.v1.local", "config_path"}, filepath.Join(dataDir, "agent", "etc", "containerd", "certs.d")},
	}
	for _, tt := range tests {
		got, ok := lookup(doc, tt.path)
		if !ok {
			t.Errorf("%v: missing", tt.path)
			continue
		}
		if !equalTOML(got, tt.want) {
			t.Errorf("%v = %#v, want %#v", tt.path, got, tt.want)
		}
	}

	// containerd itself must read it back as written.
	file := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var loaded srvconfig.Config
	if err := srvconfig.LoadConfig(context.Background(), file, &loaded); err != nil {
		t.Fatalf("containerd cannot load the config: %v", err)
	}
	if loaded.Version != 4 || loaded.Root != p.root || loaded.State != p.state {
		t.Errorf("containerd read version %d root %q state %q", loaded.Version, loaded.Root, loaded.State)
	}
}

func TestRenderContainerdConfigWithoutCredentials(t *testing.T) {
	cfg, err := Config{DataDir: t.TempDir()}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	data, err := renderContainerdConfig(cfg, newPaths(cfg.DataDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	// Any registry.configs entry turns containerd's transfer-service pulls
	// off, so none may be written without credentials.
	if _, ok := lookup(doc, []string{"plugins", "io.containerd.cri.v1.images", "registry", "configs"}); ok {
		t.Error("registry.configs written without credentials")
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Config
		wantErr bool
		check   func(t *testing.T, c Config)
	}{
		{
			name: "embedded",
			in:   Config{DataDir: "/var/lib/kite"},
			check: func(t *testing.T, c Config) {
				if c.CNIConfDir != "/var/lib/kite/agent/etc/cni/net.d" {
					t.Errorf("CNIConfDir = %q", c.CNIConfDir)
				}
				if len(c.CNIBinDirs) != 2 || c.InstallPrograms == nil || c.RegistriesFile != DefaultRegistriesFile {
					t.Errorf("defaults not filled: %+v", c)
				}
			},
		},
		{
			name: "external endpoint needs no data dir",
			in:   Config{Endpoint: "unix:///run/containerd/containerd.sock"},
			check: func(t *testing.T, c Config) {
				if c.StartTimeout <= 0 || c.StopTimeout <= 0 {
					t.Errorf("timeouts not filled: %+v", c)
				}
			},
		},
		{
			name: "bare socket path becomes a unix URL",
			in:   Config{Endpoint: "/run/k3s/containerd/containerd.sock"},
			check: func(t *testing.T, c Config) {
				if c.Endpoint != "unix:///run/k3s/containerd/containerd.sock" {
					t.Errorf("Endpoint = %q", c.Endpoint)
				}
			},
		},
		{name: "no data dir", in: Config{}, wantErr: true},
		{name: "socket path too long", in: Config{DataDir: "/" + strings.Repeat("d", 90)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func lookup(doc map[string]any, path []string) (any, bool) {
	var cur any = doc
	for _, key := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func equalTOML(got, want any) bool {
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if g[i] != w[i] {
				return false
			}
		}
		return true
	default:
		return got == want
	}
}
