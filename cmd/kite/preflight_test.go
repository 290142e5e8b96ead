package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"kite/server"
)

// freePort returns a port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// occupiedPort returns a port that stays in use until the test ends.
func occupiedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func preflightConfig(t *testing.T) server.Config {
	dir := t.TempDir()
	return server.Config{
		DataDir:         filepath.Join(dir, "data", "nested"),
		WriteKubeconfig: filepath.Join(dir, "etc", "kite.yaml"),
		BindAddress:     "127.0.0.1",
		HTTPSPort:       freePort(t),
		EtcdClientPort:  freePort(t),
		EtcdPeerPort:    freePort(t),
	}
}

func TestPreflightPasses(t *testing.T) {
	cfg := preflightConfig(t)
	if err := preflight(cfg); err != nil {
		t.Fatal(err)
	}
	// The data dir is created, private, and the probe file is gone.
	info, err := os.Stat(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode %o, want 700", perm)
	}
	entries, err := os.ReadDir(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("probe left behind: %v", entries)
	}
	info, err = os.Stat(filepath.Dir(cfg.WriteKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o755 {
		t.Errorf("kubeconfig dir mode %o, want 755", perm)
	}
}

func TestPreflightFailures(t *testing.T) {
	// A regular file where a directory should be: fails even for root,
	// which CI runs as and which permission bits do not stop.
	blocker := filepath.Join(t.TempDir(), "file")
	writeFile(t, blocker, "x")

	tests := []struct {
		name   string
		mutate func(*server.Config) string // returns the expected error
	}{
		{
			name: "data dir not creatable",
			mutate: func(c *server.Config) string {
				c.DataDir = filepath.Join(blocker, "data")
				return "data dir " + c.DataDir + " is not usable: not a directory (run as root, or choose a writable --data-dir)"
			},
		},
		{
			name: "kubeconfig dir not creatable",
			mutate: func(c *server.Config) string {
				c.WriteKubeconfig = filepath.Join(blocker, "kite.yaml")
				return "cannot write the admin kubeconfig " + c.WriteKubeconfig + ": not a directory (run as root, or choose another --write-kubeconfig)"
			},
		},
		{
			name: "api port in use",
			mutate: func(c *server.Config) string {
				c.HTTPSPort = occupiedPort(t)
				return "port " + strconv.Itoa(c.HTTPSPort) + " is already in use (is another kite server running? or choose another --https-listen-port)"
			},
		},
		{
			name: "etcd client port in use",
			mutate: func(c *server.Config) string {
				c.EtcdClientPort = occupiedPort(t)
				return "port " + strconv.Itoa(c.EtcdClientPort) + " is already in use (is another kite server or etcd running? or choose another --etcd-client-port)"
			},
		},
		{
			name: "etcd peer port in use",
			mutate: func(c *server.Config) string {
				c.EtcdPeerPort = occupiedPort(t)
				return "port " + strconv.Itoa(c.EtcdPeerPort) + " is already in use (is another kite server or etcd running? or choose another --etcd-peer-port)"
			},
		},
		{
			name: "bind address not local",
			mutate: func(c *server.Config) string {
				c.BindAddress = foreignAddress(t)
				return "cannot listen on " + c.BindAddress + ":" + strconv.Itoa(c.HTTPSPort) + ": the address is not on this machine (check --bind-address)"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := preflightConfig(t)
			want := tt.mutate(&cfg)
			err := preflight(cfg)
			if errString(err) != want {
				t.Errorf("error\n got %q\nwant %q", errString(err), want)
			}
		})
	}
}

func TestPreflightSkipsEtcdPortsForExternalDatastore(t *testing.T) {
	cfg := preflightConfig(t)
	cfg.DatastoreEndpoint = "https://10.0.0.5:2379"
	cfg.EtcdClientPort = occupiedPort(t)
	if err := preflight(cfg); err != nil {
		t.Fatal(err)
	}
}

// foreignAddress returns a documentation address (RFC 5737) that is not on
// this machine; the VMs here use TEST-NET-1 themselves, so try all three.
func foreignAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]bool{}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			local[ipnet.IP.String()] = true
		}
	}
	for _, candidate := range []string{"203.0.113.123", "198.51.100.123", "192.0.2.123"} {
		if !local[candidate] {
			return candidate
		}
	}
	t.Skip("every documentation address is assigned here")
	return ""
}
