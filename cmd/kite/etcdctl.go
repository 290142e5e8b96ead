package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdctl/v3/ctlv3"
)

// defaultDataDir is used by `kite etcdctl` when KITE_DATA_DIR is not set.
const defaultDataDir = "/var/lib/kite"

// ctlv3's init turns on cobra's process-wide command prefix matching, which
// would leak into kite's own command tree and into kubectl (where `kubectl
// ap` must not silently mean apply, and a prefix must not shadow a plugin).
// Package inits run before this one, so switching it off here undoes that;
// runEtcdctl switches it back on for etcdctl alone.
func init() {
	cobra.EnablePrefixMatching = false
}

func newEtcdctlCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "etcdctl",
		Short: "Run the bundled etcdctl against this server's etcd (all arguments are passed through)",
		// etcdctl parses its own flags, --help included.
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := runEtcdctl(args); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// runEtcdctl runs upstream etcdctl with args (everything after "etcdctl"),
// pointed at the local embedded etcd with kite's client certificate unless
// the user chose otherwise.
func runEtcdctl(args []string) int {
	dataDir := os.Getenv("KITE_DATA_DIR")
	if dataDir == "" {
		dataDir = defaultDataDir
	}
	for name, value := range etcdctlDefaults(args, os.Getenv, dataDir) {
		_ = os.Setenv(name, value)
	}
	// etcdctl's root command reads os.Args itself, and upstream etcdctl
	// accepts command prefixes (`etcdctl mem list`).
	os.Args = append([]string{"etcdctl"}, args...)
	cobra.EnablePrefixMatching = true
	if err := ctlv3.Start(); err != nil {
		// Cobra inside etcdctl has printed the error already; most etcdctl
		// failures exit the process themselves with etcdctl's own codes.
		return 1
	}
	return 0
}

// etcdctlDefaults returns the ETCDCTL_* variables to set so that a bare
// `kite etcdctl get ...` reaches the local member. Defaults go through the
// environment, not flags, so the user can still override them either way;
// but a variable must not be set when the user passed the matching flag,
// because etcdctl refuses to run when a flag shadows a set variable.
//
// ETCDCTL_API is deliberately not set: etcdctl 3.7 speaks only v3 and warns
// about the variable as unrecognised.
func etcdctlDefaults(args []string, getenv func(string) string, dataDir string) map[string]string {
	tlsDir := filepath.Join(dataDir, "server", "tls", "etcd")
	defaults := []struct{ env, flag, value string }{
		{"ETCDCTL_ENDPOINTS", "endpoints", etcdEndpoint(dataDir)},
		{"ETCDCTL_CACERT", "cacert", filepath.Join(tlsDir, "ca.crt")},
		{"ETCDCTL_CERT", "cert", filepath.Join(tlsDir, "client.crt")},
		{"ETCDCTL_KEY", "key", filepath.Join(tlsDir, "client.key")},
	}
	given := flagsGiven(args)
	env := map[string]string{}
	for _, d := range defaults {
		if getenv(d.env) != "" || given[d.flag] {
			continue
		}
		env[d.env] = d.value
	}
	return env
}

// flagsGiven returns the names of the long flags present in args, in either
// the "--name value" or the "--name=value" form, up to a "--" terminator.
func flagsGiven(args []string) map[string]bool {
	given := map[string]bool{}
	for _, arg := range args {
		if arg == "--" {
			break
		}
		name, ok := strings.CutPrefix(arg, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		given[name] = true
	}
	return given
}

// etcdEndpoint is where the server's embedded etcd listens: the server
// records it in <data-dir>/server/etcd-endpoint (it follows
// --etcd-client-port), else etcd's default.
func etcdEndpoint(dataDir string) string {
	if data, err := os.ReadFile(filepath.Join(dataDir, "server", "etcd-endpoint")); err == nil {
		if ep := strings.TrimSpace(string(data)); ep != "" {
			return ep
		}
	}
	return "https://127.0.0.1:2379"
}
