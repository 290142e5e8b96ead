// Package runtime runs the node's container runtime and hands the kubelet
// CRI clients for it: containerd and its runc shim, programs the kite
// binary carries (see the bundle package), installed under <data-dir>/bin,
// with containerd started as a child process. With Config.Endpoint set it
// uses an existing CRI runtime instead and starts nothing.
package runtime

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"kite/agent/cni"
	"kite/agent/runtime/bundle"
	"kite/agent/runtime/pause"
)

// SandboxImage is the pod sandbox ("pause") image containerd is configured
// with. Kite builds it itself (see the pause package) and imports it at
// start, so no pod needs a registry for its sandbox.
const SandboxImage = pause.Image

// maxSocketPath is the longest path a unix socket address can hold
// (sun_path is 108 bytes with the terminating NUL).
const maxSocketPath = 107

// DefaultRegistriesFile is where mirrors and registry credentials are read
// from, in k3s's registries.yaml format.
const DefaultRegistriesFile = "/etc/kite/registries.yaml"

// Config says how to run the container runtime.
type Config struct {
	// DataDir is kite's data directory (/var/lib/kite); containerd keeps
	// everything under <DataDir>/agent/containerd.
	DataDir string
	// Endpoint, when set, is an existing CRI socket (unix:///run/...) to use
	// instead of starting the embedded containerd.
	Endpoint string
	// RegistriesFile is the registries.yaml with mirrors and credentials;
	// a missing file means no mirrors. Empty means DefaultRegistriesFile.
	RegistriesFile string
	// CNIConfDir and CNIBinDirs tell containerd's CRI plugin where the pod
	// network configuration and the plugins are. Empty means
	// <DataDir>/agent/etc/cni/net.d and cni.PluginDirs.
	CNIConfDir string
	CNIBinDirs []string
	// InstallPrograms puts the containerd and containerd-shim-runc-v2
	// programs into the directory it is given, which goes first on
	// containerd's PATH. Nil means bundle.Install, the programs kite
	// carries.
	InstallPrograms func(binDir string) error
	// StartTimeout bounds how long containerd may take to answer on CRI
	// (default 60s); StopTimeout is how long it gets to exit after SIGTERM
	// before it is killed (default 10s).
	StartTimeout time.Duration
	StopTimeout  time.Duration
	// Logger receives the supervisor's messages; nil means slog.Default().
	Logger *slog.Logger
}

// paths is where the embedded containerd keeps its files.
type paths struct {
	dir         string // <data-dir>/agent/containerd
	root        string // persistent state: content, snapshots, metadata
	state       string // runtime state: shim sockets, bundles
	config      string // generated config.toml
	socket      string // CRI and containerd gRPC socket
	ttrpcSocket string // socket shims publish events to
	log         string // containerd's stdout and stderr
	hostsDir    string // registry hosts.toml tree (config_path)
	binDir      string // <data-dir>/bin: containerd and the shim, first on containerd's PATH
	imagesDir   string // air-gap image tarballs imported at start
	imported    string // record of imported tarballs, to skip unchanged ones
}

func newPaths(dataDir string) paths {
	agent := filepath.Join(dataDir, "agent")
	dir := filepath.Join(agent, "containerd")
	return paths{
		dir:         dir,
		root:        filepath.Join(dir, "root"),
		state:       filepath.Join(dir, "state"),
		config:      filepath.Join(dir, "config.toml"),
		socket:      filepath.Join(dir, "containerd.sock"),
		ttrpcSocket: filepath.Join(dir, "containerd.sock.ttrpc"),
		log:         filepath.Join(dir, "containerd.log"),
		hostsDir:    filepath.Join(agent, "etc", "containerd", "certs.d"),
		binDir:      filepath.Join(dataDir, "bin"),
		imagesDir:   filepath.Join(agent, "images"),
		imported:    filepath.Join(dir, "imported-images.json"),
	}
}

// SocketPath is the CRI socket of the embedded containerd for dataDir.
func SocketPath(dataDir string) string { return newPaths(dataDir).socket }

// withDefaults fills the unset fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("component", "runtime")
	if c.StartTimeout <= 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.RegistriesFile == "" {
		c.RegistriesFile = DefaultRegistriesFile
	}
	if strings.HasPrefix(c.Endpoint, "/") {
		// A bare socket path, as older kubelets accepted.
		c.Endpoint = "unix://" + c.Endpoint
	}
	if c.Endpoint != "" {
		return c, nil
	}
	if c.DataDir == "" {
		return c, fmt.Errorf("no data directory given for the embedded containerd")
	}
	dataDir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("resolving data directory %q: %w", c.DataDir, err)
	}
	c.DataDir = dataDir
	if p := newPaths(dataDir); len(p.ttrpcSocket) > maxSocketPath {
		return c, fmt.Errorf("data directory %q is too long: containerd's socket %s would exceed the %d-byte limit of unix socket paths", dataDir, p.ttrpcSocket, maxSocketPath)
	}
	if c.CNIConfDir == "" {
		c.CNIConfDir = filepath.Join(dataDir, "agent", "etc", "cni", "net.d")
	}
	if len(c.CNIBinDirs) == 0 {
		c.CNIBinDirs = cni.PluginDirs
	}
	if c.InstallPrograms == nil {
		c.InstallPrograms = bundle.Install
	}
	return c, nil
}
