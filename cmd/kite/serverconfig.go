package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"kite/server"
	"kite/server/controllers"
)

// buildServerConfig validates the layered options and fills in the
// defaults that depend on the machine (node name, node IP). Every error is
// one line that names the flag, the bad value and, where it helps, the fix.
// It touches nothing on disk or network; preflight does that.
func buildServerConfig(o *serverOptions, host hostInfo) (server.Config, error) {
	var cfg server.Config
	var err error

	if cfg.DataDir, err = absPath("--data-dir", o.dataDir); err != nil {
		return cfg, err
	}
	if cfg.WriteKubeconfig, err = absPath("--write-kubeconfig", o.writeKubeconfig); err != nil {
		return cfg, err
	}
	if cfg.WriteKubeconfigMode, err = parseFileMode(o.writeKubeconfigMode); err != nil {
		return cfg, err
	}
	if err := checkNetworkOptions(o, &cfg); err != nil {
		return cfg, err
	}
	if err := checkNodeOptions(o, host, &cfg); err != nil {
		return cfg, err
	}
	if err := checkClusterOptions(o, &cfg); err != nil {
		return cfg, err
	}
	if cfg.Disable, err = parseDisable(o.disable); err != nil {
		return cfg, err
	}
	cfg.DisableAgent = o.disableAgent
	cfg.DisableControllerManager = o.disableControllerManager
	cfg.DisableScheduler = o.disableScheduler
	if cfg.LeaderElection, err = checkLeaderElection(o); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// absPath resolves a path flag against the working directory now, so a
// relative --data-dir means the same thing to every component.
func absPath(flag, path string) (string, error) {
	if strings.TrimSpace(path) == "" {
		return "", fmt.Errorf("%s must not be empty", flag)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", flag, path, err)
	}
	return abs, nil
}

// parseFileMode reads an octal permission such as 600, 0600 or 0o644.
func parseFileMode(s string) (uint32, error) {
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	mode, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || digits == "" || mode > 0o777 {
		return 0, fmt.Errorf("--write-kubeconfig-mode %q is not a file mode; use octal such as 0600 or 0644", s)
	}
	return uint32(mode), nil
}

// checkClusterOptions covers how this server finds its cluster: a new one
// (--cluster-init), an existing one (--server + --token) or an external
// datastore.
func checkClusterOptions(o *serverOptions, cfg *server.Config) error {
	token := strings.TrimSpace(o.token)
	if strings.ContainsAny(token, " \t\r\n") {
		return errors.New("--token must not contain whitespace")
	}
	cfg.Token = token
	cfg.ClusterInit = o.clusterInit

	if o.datastoreEndpoint != "" {
		if err := checkDatastoreEndpoint(o.datastoreEndpoint); err != nil {
			return err
		}
		if o.clusterInit {
			return errors.New("--cluster-init starts embedded etcd and cannot be combined with --datastore-endpoint")
		}
		cfg.DatastoreEndpoint = o.datastoreEndpoint
	}

	if o.serverURL != "" {
		if err := checkServerURL(o.serverURL); err != nil {
			return err
		}
		if o.clusterInit {
			return errors.New("--cluster-init starts a new cluster and --server joins an existing one; use only one")
		}
		if token == "" {
			return fmt.Errorf("--server %s needs --token (find it in <data-dir>/server/token on that server)", o.serverURL)
		}
		// server.Config has no field for the join URL yet; starting a fresh
		// cluster when asked to join would be worse than refusing.
		return errors.New("--server: joining an existing server is not supported by this build yet")
	}
	return nil
}

// knownParts are the packaged parts --disable turns off.
var knownParts = []string{"dns", "ingress", "servicelb"}

// k3sParts maps k3s's names for packaged parts to kite's, so k3s scripts
// carry over: kite's ingress replaces Traefik, its DNS replaces CoreDNS.
// The k3s parts kite does not ship map to "" (nothing to turn off).
var k3sParts = map[string]string{
	"traefik":        "ingress",
	"coredns":        "dns",
	"local-storage":  "",
	"metrics-server": "",
}

func disableableList() string { return strings.Join(knownParts, ", ") }

func parseDisable(names []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, raw := range names {
		name := strings.ToLower(strings.TrimSpace(raw))
		if name == "" {
			continue
		}
		if mapped, ok := k3sParts[name]; ok {
			if mapped == "" {
				slog.Info("kite does not ship this k3s component; nothing to disable", "disable", name)
				continue
			}
			name = mapped
		}
		if !slices.Contains(knownParts, name) {
			return nil, fmt.Errorf("--disable %q is not a part kite can turn off (known: %s)", raw, disableableList())
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out, nil
}

// checkLeaderElection enforces what client-go's leader election needs:
// positive periods, a renew deadline inside the lease and above the retry
// period (with the jitter it adds).
func checkLeaderElection(o *serverOptions) (controllers.LeaderElection, error) {
	le := controllers.LeaderElection{LeaseDuration: o.leaderElectLease, RenewDeadline: o.leaderElectRenew, RetryPeriod: o.leaderElectRetry}
	switch {
	case le.LeaseDuration <= 0 || le.RenewDeadline <= 0 || le.RetryPeriod <= 0:
		return le, errors.New("--leader-elect-lease-duration, --leader-elect-renew-deadline and --leader-elect-retry-period must be positive")
	case le.RenewDeadline >= le.LeaseDuration:
		return le, fmt.Errorf("--leader-elect-renew-deadline %s must be less than --leader-elect-lease-duration %s", le.RenewDeadline, le.LeaseDuration)
	case float64(le.RenewDeadline) <= 1.2*float64(le.RetryPeriod):
		return le, fmt.Errorf("--leader-elect-renew-deadline %s must be more than 1.2 × --leader-elect-retry-period %s", le.RenewDeadline, le.RetryPeriod)
	}
	return le, nil
}
