package main

import (
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"kite/server"
	"kite/server/controllers"
)

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestServerDefaults(t *testing.T) {
	cfg, err := parseServer(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{
		DataDir:             "/var/lib/kite",
		BindAddress:         "0.0.0.0",
		HTTPSPort:           6443,
		AdvertiseAddress:    testHost.ip,
		NodeName:            "node-1", // host name lower-cased
		NodeIP:              testHost.ip,
		WriteKubeconfig:     "/etc/kite/kite.yaml",
		WriteKubeconfigMode: 0o600,
		ClusterCIDR:         mustCIDR("10.42.0.0/16"),
		ServiceCIDR:         mustCIDR("10.43.0.0/16"),
		ClusterDNS:          net.IPv4(10, 43, 0, 10).To4(),
		ClusterDomain:       "cluster.local",
		NodePortRange:       server.PortRange{Base: 30000, Size: 2768},
		EtcdClientPort:      2379,
		EtcdPeerPort:        2380,
		LeaderElection:      controllers.DefaultLeaderElection,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

// TestPrecedence checks flag > KITE_<FLAG> env > config file > default,
// and how each source spells lists and scalars.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string
		check func(server.Config) any // the value under test
		want  any
	}{
		{
			name:  "flag only",
			args:  []string{"--https-listen-port", "7000"},
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  7000,
		},
		{
			name:  "env only",
			env:   map[string]string{"KITE_HTTPS_LISTEN_PORT": "7001"},
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  7001,
		},
		{
			name:  "file only",
			file:  "https-listen-port: 7002\n",
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  7002,
		},
		{
			name:  "flag beats env and file",
			args:  []string{"--https-listen-port=7000"},
			env:   map[string]string{"KITE_HTTPS_LISTEN_PORT": "7001"},
			file:  "https-listen-port: 7002\n",
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  7000,
		},
		{
			name:  "env beats file",
			env:   map[string]string{"KITE_HTTPS_LISTEN_PORT": "7001"},
			file:  "https-listen-port: 7002\n",
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  7001,
		},
		{
			name:  "empty env var counts as unset",
			env:   map[string]string{"KITE_HTTPS_LISTEN_PORT": ""},
			file:  "https-listen-port: 7002\n",
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  7002,
		},
		{
			name:  "short flag",
			args:  []string{"-d", "/tmp/kite-test-data"},
			env:   map[string]string{"KITE_DATA_DIR": "/tmp/other"},
			check: func(c server.Config) any { return c.DataDir },
			want:  "/tmp/kite-test-data",
		},
		{
			name:  "env data dir",
			env:   map[string]string{"KITE_DATA_DIR": "/tmp/other"},
			check: func(c server.Config) any { return c.DataDir },
			want:  "/tmp/other",
		},
		{
			name:  "file list",
			file:  "tls-san: [kite.example.com, 10.0.0.1]\n",
			check: func(c server.Config) any { return c.TLSSANs },
			want:  []string{"kite.example.com", "10.0.0.1"},
		},
		{
			name:  "file block list",
			file:  "disable:\n  - ingress\n  - dns\n",
			check: func(c server.Config) any { return c.Disable },
			want:  []string{"ingress", "dns"},
		},
		{
			name:  "file comma list",
			file:  "disable: ingress,dns\n",
			check: func(c server.Config) any { return c.Disable },
			want:  []string{"ingress", "dns"},
		},
		{
			name:  "env comma list",
			env:   map[string]string{"KITE_TLS_SAN": "a.example.com,b.example.com"},
			check: func(c server.Config) any { return c.TLSSANs },
			want:  []string{"a.example.com", "b.example.com"},
		},
		{
			name:  "repeated and comma flags",
			args:  []string{"--tls-san", "a.example.com", "--tls-san=b.example.com,10.1.2.3"},
			check: func(c server.Config) any { return c.TLSSANs },
			want:  []string{"a.example.com", "b.example.com", "10.1.2.3"},
		},
		{
			name:  "flag list replaces file list",
			args:  []string{"--disable", "dns"},
			file:  "disable: [ingress]\n",
			check: func(c server.Config) any { return c.Disable },
			want:  []string{"dns"},
		},
		{
			name:  "bool from env",
			env:   map[string]string{"KITE_CLUSTER_INIT": "true"},
			check: func(c server.Config) any { return c.ClusterInit },
			want:  true,
		},
		{
			name:  "bool from file",
			file:  "cluster-init: true\ndisable-agent: true\n",
			check: func(c server.Config) any { return c.ClusterInit && c.DisableAgent },
			want:  true,
		},
		{
			name:  "bool flag beats file",
			args:  []string{"--cluster-init=false"},
			file:  "cluster-init: true\n",
			check: func(c server.Config) any { return c.ClusterInit },
			want:  false,
		},
		{
			name:  "null value keeps default",
			file:  "https-listen-port:\n",
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  6443,
		},
		{
			name:  "comments only",
			file:  "# nothing here\n",
			check: func(c server.Config) any { return c.HTTPSPort },
			want:  6443,
		},
		{
			name:  "kubeconfig mode 600",
			args:  []string{"--write-kubeconfig-mode", "600"},
			check: func(c server.Config) any { return c.WriteKubeconfigMode },
			want:  uint32(0o600),
		},
		{
			name:  "kubeconfig mode 0644 from env",
			env:   map[string]string{"KITE_WRITE_KUBECONFIG_MODE": "0644"},
			check: func(c server.Config) any { return c.WriteKubeconfigMode },
			want:  uint32(0o644),
		},
		{
			name:  "kubeconfig mode 644 unquoted in yaml",
			file:  "write-kubeconfig-mode: 644\n",
			check: func(c server.Config) any { return c.WriteKubeconfigMode },
			want:  uint32(0o644),
		},
		{
			name:  "kubeconfig mode 0644 unquoted in yaml stays octal",
			file:  "write-kubeconfig-mode: 0644\n",
			check: func(c server.Config) any { return c.WriteKubeconfigMode },
			want:  uint32(0o644),
		},
		{
			name:  "kubeconfig path short flag",
			args:  []string{"-o", "/tmp/k.yaml"},
			check: func(c server.Config) any { return c.WriteKubeconfig },
			want:  "/tmp/k.yaml",
		},
		{
			name:  "cluster dns follows service cidr",
			args:  []string{"--service-cidr", "10.96.0.0/16"},
			check: func(c server.Config) any { return c.ClusterDNS.String() },
			want:  "10.96.0.10",
		},
		{
			name:  "explicit cluster dns",
			file:  "cluster-dns: 10.43.0.53\n",
			check: func(c server.Config) any { return c.ClusterDNS.String() },
			want:  "10.43.0.53",
		},
		{
			name:  "node ip and advertise address",
			args:  []string{"--node-ip", "10.0.0.7"},
			check: func(c server.Config) any { return c.NodeIP.String() + " " + c.AdvertiseAddress.String() },
			want:  "10.0.0.7 10.0.0.7",
		},
		{
			name:  "advertise address apart from node ip",
			env:   map[string]string{"KITE_ADVERTISE_ADDRESS": "203.0.113.5"},
			check: func(c server.Config) any { return c.NodeIP.String() + " " + c.AdvertiseAddress.String() },
			want:  "192.0.2.10 203.0.113.5",
		},
		{
			name:  "k3s component names",
			args:  []string{"--disable", "traefik,servicelb,coredns,ingress"},
			check: func(c server.Config) any { return c.Disable },
			want:  []string{"ingress", "servicelb", "dns"},
		},
		{
			name:  "token and etcd ports",
			file:  "token: secret\netcd-client-port: 12379\netcd-peer-port: 12380\n",
			check: func(c server.Config) any { return []any{c.Token, c.EtcdClientPort, c.EtcdPeerPort} },
			want:  []any{"secret", 12379, 12380},
		},
		{
			name:  "external datastore",
			env:   map[string]string{"KITE_DATASTORE_ENDPOINT": "https://10.0.0.5:2379,https://10.0.0.6:2379"},
			check: func(c server.Config) any { return c.DatastoreEndpoint },
			want:  "https://10.0.0.5:2379,https://10.0.0.6:2379",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseServer(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.check(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestConfigFileChoice covers which file is read: -c, KITE_CONFIG, or the
// default path, and when a missing file is an error.
func TestConfigFileChoice(t *testing.T) {
	dir := t.TempDir()
	byFlag := filepath.Join(dir, "flag.yaml")
	byEnv := filepath.Join(dir, "env.yaml")
	writeFile(t, byFlag, "https-listen-port: 7100\n")
	writeFile(t, byEnv, "https-listen-port: 7200\n")
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string // at the default path
		want    int
		wantErr string
	}{
		{name: "default path", file: "https-listen-port: 7300\n", want: 7300},
		{name: "default path missing is fine", want: 6443},
		{name: "-c", args: []string{"-c", byFlag}, file: "https-listen-port: 7300\n", want: 7100},
		{name: "--config beats KITE_CONFIG", args: []string{"--config", byFlag}, env: map[string]string{"KITE_CONFIG": byEnv}, want: 7100},
		{name: "KITE_CONFIG", env: map[string]string{"KITE_CONFIG": byEnv}, want: 7200},
		{name: "explicit missing file", args: []string{"-c", missing}, wantErr: "config file " + missing + ": no such file or directory"},
		{name: "missing file from env", env: map[string]string{"KITE_CONFIG": missing}, wantErr: "config file " + missing + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseServer(t, tt.args, tt.env, tt.file)
			if errString(err) != tt.wantErr {
				t.Fatalf("error %q, want %q", errString(err), tt.wantErr)
			}
			if err == nil && cfg.HTTPSPort != tt.want {
				t.Errorf("port %d, want %d", cfg.HTTPSPort, tt.want)
			}
		})
	}
}

// TestConfigFileErrors checks that a bad file gives one line naming the
// file and the line to fix.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		wantErr string // after "config file <path>: "
	}{
		{
			name:    "unknown key",
			file:    "data-dir: /tmp/x\n\nhttps-port: 7443\n",
			wantErr: `line 3: unknown key "https-port" (keys are ` + "`kite server`" + ` flag names, e.g. https-listen-port)`,
		},
		{
			name:    "config key inside the file",
			file:    "config: /etc/other.yaml\n",
			wantErr: `line 1: unknown key "config" (keys are ` + "`kite server`" + ` flag names, e.g. https-listen-port)`,
		},
		{
			name:    "unknown key is reported even when env overrides it",
			file:    "nodename: x\n",
			env:     map[string]string{"KITE_NODE_NAME": "y"},
			wantErr: `line 1: unknown key "nodename" (keys are ` + "`kite server`" + ` flag names, e.g. https-listen-port)`,
		},
		{
			name:    "malformed yaml",
			file:    "token: a\nnode-name: x: y\n",
			wantErr: "line 2: mapping values are not allowed in this context",
		},
		{
			name:    "tab indentation",
			file:    "token: a\n\tnode-name: x\n",
			wantErr: "line 2: found a tab character that violates indentation",
		},
		{
			name:    "not a mapping",
			file:    "- a\n- b\n",
			wantErr: `line 1: expected flag-name: value pairs, e.g. "https-listen-port: 6443"`,
		},
		{
			name:    "list for a single value",
			file:    "https-listen-port: [1, 2]\n",
			wantErr: "line 1: https-listen-port: takes a single value, not a list",
		},
		{
			name:    "mapping value",
			file:    "tls-san:\n  a: b\n",
			wantErr: "line 2: tls-san: expected a value or a list",
		},
		{
			name:    "bad number",
			file:    "token: x\nhttps-listen-port: many\n",
			wantErr: `line 2: https-listen-port: "many" is not a whole number`,
		},
		{
			name:    "bad bool",
			file:    "cluster-init: yes please\n",
			wantErr: `line 1: cluster-init: "yes please" is not true or false`,
		},
		{
			name:    "duplicate key",
			file:    "token: a\ntoken: b\n",
			wantErr: "line 2: token is already set on line 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseServer(t, nil, tt.env, tt.file)
			want := "config file " + defaultConfigFile + ": " + tt.wantErr
			if errString(err) != want {
				t.Errorf("error\n got %q\nwant %q", errString(err), want)
			}
			if strings.Contains(errString(err), "\n") {
				t.Errorf("error spans lines: %q", errString(err))
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{"KITE_HTTPS_LISTEN_PORT": "abc"}, `environment variable KITE_HTTPS_LISTEN_PORT: "abc" is not a whole number`},
		{map[string]string{"KITE_DISABLE_AGENT": "maybe"}, `environment variable KITE_DISABLE_AGENT: "maybe" is not true or false`},
	}
	for _, tt := range tests {
		_, err := parseServer(t, nil, tt.env, "")
		if errString(err) != tt.wantErr {
			t.Errorf("error\n got %q\nwant %q", errString(err), tt.wantErr)
		}
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"data-dir":                "KITE_DATA_DIR",
		"https-listen-port":       "KITE_HTTPS_LISTEN_PORT",
		"service-node-port-range": "KITE_SERVICE_NODE_PORT_RANGE",
		"token":                   "KITE_TOKEN",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}
