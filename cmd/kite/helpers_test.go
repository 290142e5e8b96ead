package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"kite/server"
)

// fakeHost stands in for the machine so defaults are predictable.
type fakeHost struct {
	name    string
	nameErr error
	ip      net.IP
}

func (h fakeHost) Hostname() (string, error) { return h.name, h.nameErr }
func (h fakeHost) DefaultIP() net.IP         { return h.ip }

var testHost = fakeHost{name: "Node-1", ip: net.IPv4(192, 0, 2, 10).To4()}

// parseServer runs the whole flag > env > config file > default chain.
// The default config path points into a temp dir so the machine's own
// /etc/kite/config.yaml never leaks in; fileYAML, when not empty, is
// written there.
func parseServer(t *testing.T, args []string, env map[string]string, fileYAML string) (server.Config, error) {
	t.Helper()
	dir := t.TempDir()
	old := defaultConfigFile
	defaultConfigFile = filepath.Join(dir, "config.yaml")
	t.Cleanup(func() { defaultConfigFile = old })
	if fileYAML != "" {
		writeFile(t, defaultConfigFile, fileYAML)
	}
	opts, flags := newServerFlags()
	if err := flags.Parse(args); err != nil {
		return server.Config{}, err
	}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	return loadServerConfig(flags, opts, lookup, testHost)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var errHostname = errors.New("no hostname")
