package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidation checks that each bad setting is refused with one line
// naming the flag, the value and the fix.
func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "cidr prefix too long", args: []string{"--cluster-cidr", "10.42.0.0/33"}, wantErr: `--cluster-cidr "10.42.0.0/33" is not a valid CIDR`},
		{name: "cidr garbage", args: []string{"--service-cidr", "ten"}, wantErr: `--service-cidr "ten" is not a valid CIDR`},
		{name: "cidrs overlap", args: []string{"--service-cidr", "10.42.128.0/17"}, wantErr: "--cluster-cidr 10.42.0.0/16 overlaps --service-cidr 10.42.128.0/17"},
		{name: "cidrs overlap other way", args: []string{"--cluster-cidr", "10.0.0.0/8"}, wantErr: "--cluster-cidr 10.0.0.0/8 overlaps --service-cidr 10.43.0.0/16"},
		{name: "cluster cidr below a /24 per node", args: []string{"--cluster-cidr", "10.42.0.0/25"}, wantErr: "--cluster-cidr 10.42.0.0/25 is too small: each node gets a /24 from it, so use /24 or larger (e.g. /16)"},
		{name: "service cidr too large", args: []string{"--service-cidr", "10.64.0.0/10"}, wantErr: "--service-cidr 10.64.0.0/10 is too large: use /12 or smaller"},
		{name: "service cidr too small", args: []string{"--service-cidr", "10.43.0.0/31"}, wantErr: "--service-cidr 10.43.0.0/31 is too small to hold the kubernetes and DNS Services"},
		{name: "mixed families", args: []string{"--service-cidr", "fd00:43::/112"}, wantErr: "--cluster-cidr 10.42.0.0/16 and --service-cidr fd00:43::/112 must be the same IP family"},
		{name: "dns outside service cidr", args: []string{"--cluster-dns", "10.44.0.10"}, wantErr: "--cluster-dns 10.44.0.10 is outside --service-cidr 10.43.0.0/16"},
		{name: "dns not an ip", args: []string{"--cluster-dns", "dns"}, wantErr: `--cluster-dns "dns" is not an IP address`},
		{name: "dns on kubernetes service ip", args: []string{"--cluster-dns", "10.43.0.1"}, wantErr: "--cluster-dns 10.43.0.1 is the kubernetes Service's address (first in --service-cidr); use e.g. 10.43.0.10"},
		{name: "dns on network address", args: []string{"--cluster-dns", "10.43.0.0"}, wantErr: "--cluster-dns 10.43.0.0 is the network address of --service-cidr 10.43.0.0/16; use e.g. 10.43.0.10"},
		{name: "dns outside changed service cidr", args: []string{"--service-cidr", "10.96.0.0/12"}, env: map[string]string{"KITE_CLUSTER_DNS": "10.43.0.10"}, wantErr: "--cluster-dns 10.43.0.10 is outside --service-cidr 10.96.0.0/12"},
		{name: "bad domain", args: []string{"--cluster-domain", "Cluster_Local"}, wantErr: `--cluster-domain "Cluster_Local" is not a DNS domain such as cluster.local`},
		{name: "port range reversed", args: []string{"--service-node-port-range", "32767-30000"}, wantErr: `--service-node-port-range "32767-30000" is not a port range such as 30000-32767 (ports 1-65535, first <= last)`},
		{name: "port range past 65535", args: []string{"--service-node-port-range", "30000-70000"}, wantErr: `--service-node-port-range "30000-70000" is not a port range such as 30000-32767 (ports 1-65535, first <= last)`},
		{name: "port range garbage", args: []string{"--service-node-port-range", "30000:32767"}, wantErr: `--service-node-port-range "30000:32767" is not a port range such as 30000-32767`},
		{name: "api port inside node port range", args: []string{"--https-listen-port", "30443"}, wantErr: "--https-listen-port 30443 lies inside --service-node-port-range 30000-32767"},
		{name: "api port zero", args: []string{"--https-listen-port", "0"}, wantErr: "--https-listen-port 0 is not a valid port (1-65535)"},
		{name: "etcd port too big", args: []string{"--etcd-peer-port", "65536"}, wantErr: "--etcd-peer-port 65536 is not a valid port (1-65535)"},
		{name: "etcd port clashes with api", args: []string{"--etcd-client-port", "6443"}, wantErr: "--etcd-client-port 6443 is the same as --https-listen-port"},
		{name: "etcd ports clash", args: []string{"--etcd-peer-port", "2379"}, wantErr: "--etcd-peer-port 2379 is the same as --etcd-client-port"},
		{name: "bind address", args: []string{"--bind-address", "localhost"}, wantErr: `--bind-address "localhost" is not an IP address`},
		{name: "node ip unspecified", args: []string{"--node-ip", "0.0.0.0"}, wantErr: "--node-ip 0.0.0.0 is not an address other machines can reach; use this machine's network address"},
		{name: "node ip loopback", args: []string{"--node-ip", "127.0.0.1"}, wantErr: "--node-ip 127.0.0.1 is a loopback address, which pods and other nodes cannot reach; use this machine's network address"},
		{name: "node ip garbage", args: []string{"--node-ip", "node1"}, wantErr: `--node-ip "node1" is not an IP address`},
		{name: "advertise address", args: []string{"--advertise-address", "host"}, wantErr: `--advertise-address "host" is not an IP address`},
		{name: "advertise address loopback", args: []string{"--advertise-address", "::1"}, wantErr: "--advertise-address ::1 is a loopback address, which pods and other nodes cannot reach; use this machine's network address"},
		{name: "node name", args: []string{"--node-name", "web_1"}, wantErr: `node name "web_1" is not a lower-case DNS name (letters, digits, '-', '.'); set --node-name`},
		{name: "renew deadline past lease", args: []string{"--leader-elect-renew-deadline", "20s"}, wantErr: "--leader-elect-renew-deadline 20s must be less than --leader-elect-lease-duration 15s"},
		{name: "retry period too long", args: []string{"--leader-elect-retry-period", "9s"}, wantErr: "--leader-elect-renew-deadline 10s must be more than 1.2 × --leader-elect-retry-period 9s"},
		{name: "lease duration zero", env: map[string]string{"KITE_LEADER_ELECT_LEASE_DURATION": "0s"}, wantErr: "--leader-elect-lease-duration, --leader-elect-renew-deadline and --leader-elect-retry-period must be positive"},
		{name: "tls san", args: []string{"--tls-san", "bad name"}, wantErr: `--tls-san "bad name" is neither an IP address nor a DNS name`},
		{name: "kubeconfig mode not octal", args: []string{"--write-kubeconfig-mode", "0999"}, wantErr: `--write-kubeconfig-mode "0999" is not a file mode; use octal such as 0600 or 0644`},
		{name: "kubeconfig mode too big", args: []string{"--write-kubeconfig-mode", "10644"}, wantErr: `--write-kubeconfig-mode "10644" is not a file mode; use octal such as 0600 or 0644`},
		{name: "empty data dir", env: map[string]string{"KITE_DATA_DIR": " "}, wantErr: "--data-dir must not be empty"},
		{name: "unknown disable", args: []string{"--disable", "ingress,kube-proxy"}, wantErr: `--disable "kube-proxy" is not a part kite can turn off (known: dns, ingress, servicelb)`},
		{name: "node label", args: []string{"--node-label", "role"}, wantErr: `--node-label "role" is not a label such as example.com/role=db`},
		{name: "node taint effect", args: []string{"--node-taint", "dedicated=db:Never"}, wantErr: `--node-taint "dedicated=db:Never" is not a taint such as dedicated=db:NoSchedule (effects: NoSchedule, PreferNoSchedule, NoExecute)`},
		{name: "runtime endpoint", args: []string{"--container-runtime-endpoint", "tcp://1.2.3.4:5"}, wantErr: `--container-runtime-endpoint "tcp://1.2.3.4:5" is not a unix socket such as unix:///run/containerd/containerd.sock`},
		{name: "token whitespace", args: []string{"--token", "a b"}, wantErr: "--token must not contain whitespace"},
		{name: "server url", args: []string{"--server", "10.0.0.1:6443", "--token", "t"}, wantErr: `--server "10.0.0.1:6443" is not a server URL such as https://10.0.0.1:6443`},
		{name: "server needs token", args: []string{"--server", "https://10.0.0.1:6443"}, wantErr: "--server https://10.0.0.1:6443 needs --token (find it in <data-dir>/server/token on that server)"},
		{name: "server and cluster-init", args: []string{"--server", "https://10.0.0.1:6443", "--cluster-init"}, wantErr: "--cluster-init starts a new cluster and --server joins an existing one; use only one"},
		{name: "joining not wired yet", args: []string{"--server", "https://10.0.0.1:6443", "--token", "t"}, wantErr: "--server: joining an existing server is not supported by this build yet"},
		{name: "sql datastore", args: []string{"--datastore-endpoint", "postgres://db/kite"}, wantErr: `--datastore-endpoint "postgres://db/kite" is not a list of etcd URLs such as https://10.0.0.5:2379 (kite supports etcd only)`},
		{name: "cluster-init with datastore", args: []string{"--datastore-endpoint", "https://10.0.0.5:2379", "--cluster-init"}, wantErr: "--cluster-init starts embedded etcd and cannot be combined with --datastore-endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseServer(t, tt.args, tt.env, "")
			if errString(err) != tt.wantErr {
				t.Errorf("error\n got %q\nwant %q", errString(err), tt.wantErr)
			}
		})
	}
}

func TestValidInputsAccepted(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"labels and taints", []string{"--node-label", "example.com/role=db,tier=", "--node-taint", "dedicated=db:NoSchedule", "--node-taint", "gpu:NoExecute"}},
		{"unix socket endpoint", []string{"--container-runtime-endpoint", "unix:///run/containerd/containerd.sock"}},
		{"ipv6 tls san and wildcard", []string{"--tls-san", "fd00::1,*.Example.com"}},
		{"external etcd frees the etcd ports", []string{"--datastore-endpoint", "http://127.0.0.1:2379", "--etcd-client-port", "6443"}},
		{"small service cidr", []string{"--service-cidr", "10.43.0.0/30"}},
		{"cluster domain trailing dot", []string{"--cluster-domain", "cluster.local."}},
		{"mode with 0o prefix", []string{"--write-kubeconfig-mode", "0o640"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseServer(t, tt.args, nil, ""); err != nil {
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
}

func TestNormalisation(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseServer(t, []string{
		"--data-dir", "rel/data",
		"--tls-san", "API.Example.com",
		"--cluster-domain", "cluster.local.",
		"--service-cidr", "10.43.0.0/30",
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "rel/data"); cfg.DataDir != want {
		t.Errorf("data dir %q, want %q", cfg.DataDir, want)
	}
	if strings.Join(cfg.TLSSANs, ",") != "api.example.com" {
		t.Errorf("tls sans %v", cfg.TLSSANs)
	}
	if cfg.ClusterDomain != "cluster.local" {
		t.Errorf("cluster domain %q", cfg.ClusterDomain)
	}
	// A /30 has no 10th address; the DNS IP falls back to the second host.
	if cfg.ClusterDNS.String() != "10.43.0.2" {
		t.Errorf("cluster dns %v", cfg.ClusterDNS)
	}
}

func TestNoUsableNodeIP(t *testing.T) {
	o, flags := newServerFlags()
	if err := flags.Parse(nil); err != nil {
		t.Fatal(err)
	}
	_, err := buildServerConfig(o, fakeHost{name: "node-1"})
	want := "this machine has no non-loopback IPv4 address to use as the node IP; set --node-ip"
	if errString(err) != want {
		t.Errorf("error %q, want %q", errString(err), want)
	}
}

func TestHostnameFailure(t *testing.T) {
	o, flags := newServerFlags()
	if err := flags.Parse(nil); err != nil {
		t.Fatal(err)
	}
	_, err := buildServerConfig(o, fakeHost{nameErr: errHostname, ip: testHost.ip})
	want := "cannot read the host name (no hostname); set --node-name"
	if errString(err) != want {
		t.Errorf("error %q, want %q", errString(err), want)
	}
}
