package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"kite/server"
)

// preflight checks, before anything starts, the things that otherwise fail
// deep inside a component with a confusing message: directories kite must
// write to and ports it must listen on.
func preflight(cfg server.Config) error {
	if err := checkWritableDir(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s is not usable: %v (run as root, or choose a writable --data-dir)", cfg.DataDir, err)
	}
	kubeconfigDir := filepath.Dir(cfg.WriteKubeconfig)
	if err := checkWritableDir(kubeconfigDir, 0o755); err != nil {
		return fmt.Errorf("cannot write the admin kubeconfig %s: %v (run as root, or choose another --write-kubeconfig)", cfg.WriteKubeconfig, err)
	}
	if err := checkPortFree(cfg.BindAddress, cfg.HTTPSPort); err != nil {
		return describeListenError(err, cfg.BindAddress, cfg.HTTPSPort, "--https-listen-port", "another kite server")
	}
	if cfg.DatastoreEndpoint == "" {
		// Embedded etcd listens on all addresses of the node.
		if err := checkPortFree("0.0.0.0", cfg.EtcdClientPort); err != nil {
			return describeListenError(err, "0.0.0.0", cfg.EtcdClientPort, "--etcd-client-port", "another kite server or etcd")
		}
		if err := checkPortFree("0.0.0.0", cfg.EtcdPeerPort); err != nil {
			return describeListenError(err, "0.0.0.0", cfg.EtcdPeerPort, "--etcd-peer-port", "another kite server or etcd")
		}
	}
	return nil
}

// checkWritableDir creates dir if needed and proves it is writable by
// writing and removing a probe file; permission bits alone do not tell
// (read-only mounts, root squash, full disks). perm applies to directories
// it creates: the data dir holds secrets (0700), while the kubeconfig's
// directory must stay traversable for a 0644 kubeconfig to be readable.
func checkWritableDir(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return unwrapPathError(err)
	}
	probe, err := os.CreateTemp(dir, ".kite-probe-*")
	if err != nil {
		return unwrapPathError(err)
	}
	_, writeErr := probe.Write([]byte("probe"))
	closeErr := probe.Close()
	removeErr := os.Remove(probe.Name())
	return errors.Join(writeErr, closeErr, removeErr)
}

// checkPortFree listens on the port and closes it again at once.
func checkPortFree(address string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

func describeListenError(err error, address string, port int, flag, likelyOwner string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("port %d is already in use (is %s running? or choose another %s)", port, likelyOwner, flag)
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("cannot listen on %s: the address is not on this machine (check --bind-address)", net.JoinHostPort(address, strconv.Itoa(port)))
	}
	return fmt.Errorf("cannot listen on %s: %v", net.JoinHostPort(address, strconv.Itoa(port)), unwrapOpError(err))
}

// unwrapOpError drops net.OpError's "listen tcp 0.0.0.0:80:" prefix, which
// repeats what the message already says.
func unwrapOpError(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err
	}
	return err
}
