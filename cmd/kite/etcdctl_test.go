package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEtcdctlDefaults: the endpoint comes from the server's record when
// there is one, and anything the user set wins.
func TestEtcdctlDefaults(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }
	if got := etcdctlDefaults(nil, noEnv, dir)["ETCDCTL_ENDPOINTS"]; got != "https://127.0.0.1:2379" {
		t.Fatalf("default endpoint %q", got)
	}
	if err := os.MkdirAll(filepath.Join(dir, "server"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server", "etcd-endpoint"), []byte("https://127.0.0.1:7379\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := etcdctlDefaults(nil, noEnv, dir)
	if got["ETCDCTL_ENDPOINTS"] != "https://127.0.0.1:7379" || got["ETCDCTL_CERT"] != filepath.Join(dir, "server", "tls", "etcd", "client.crt") {
		t.Fatalf("defaults %v", got)
	}
	if _, set := etcdctlDefaults([]string{"--endpoints=https://x:1", "get", "k"}, noEnv, dir)["ETCDCTL_ENDPOINTS"]; set {
		t.Fatal("--endpoints given, but the default was still set")
	}
	env := func(k string) string {
		if k == "ETCDCTL_ENDPOINTS" {
			return "https://y:2"
		}
		return ""
	}
	if _, set := etcdctlDefaults(nil, env, dir)["ETCDCTL_ENDPOINTS"]; set {
		t.Fatal("ETCDCTL_ENDPOINTS set, but the default was still set")
	}
}
