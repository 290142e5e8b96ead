package datastore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// nameFile sits beside etcd's member/ directory, as in k3s, and remembers
// the member name chosen when the data was created.
const nameFile = "name"

// hasMemberData reports whether etcd has already been initialised in dir;
// it is the same test etcd uses to choose between bootstrap and restart.
func hasMemberData(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "member", "wal"))
	return err == nil
}

// memberName returns the name to start the member under and records it.
// A member that already has data keeps its stored name: the name is
// published in the cluster's member list, and changing it silently would
// confuse `etcdctl member list` and joins that refer to it.
func memberName(dir, wanted string) (string, error) {
	path := filepath.Join(dir, nameFile)
	stored, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read etcd member name: %w", err)
	}
	storedName := strings.TrimSpace(string(stored))

	if storedName != "" && hasMemberData(dir) {
		if wanted != "" && wanted != storedName {
			slog.Warn("keeping the existing etcd member name", "component", "datastore", "name", storedName, "requested", wanted)
		}
		return storedName, nil
	}

	name := wanted
	if name == "" {
		name, err = defaultMemberName()
		if err != nil {
			return "", err
		}
	}
	if name != storedName {
		if err := os.WriteFile(path, []byte(name+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("store etcd member name: %w", err)
		}
	}
	return name, nil
}

// defaultMemberName is <hostname>-<8 hex>: the suffix keeps a host that is
// reset and rejoins from colliding with its own stale member entry.
func defaultMemberName() (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "kite"
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("generate etcd member name: %w", err)
	}
	return host + "-" + hex.EncodeToString(suffix), nil
}
