package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kite/agent"
	"kite/server"
)

// serverOptions holds `kite server` settings as the user typed them; they
// become a validated server.Config in buildServerConfig.
type serverOptions struct {
	configFile               string
	dataDir                  string
	token                    string
	serverURL                string
	clusterInit              bool
	httpsPort                int
	bindAddress              string
	advertiseAddress         string
	tlsSANs                  []string
	writeKubeconfig          string
	writeKubeconfigMode      string
	clusterCIDR              string
	serviceCIDR              string
	clusterDNS               string
	clusterDomain            string
	nodePortRange            string
	disable                  []string
	disableAgent             bool
	disableControllerManager bool
	disableScheduler         bool
	leaderElectLease         time.Duration
	leaderElectRenew         time.Duration
	leaderElectRetry         time.Duration
	node                     nodeOptions
	datastoreEndpoint        string
	etcdClientPort           int
	etcdPeerPort             int
}

// defaultConfigFile is a variable only so tests can point it at a temp dir.
var defaultConfigFile = "/etc/kite/config.yaml"

// newServerFlags registers the server flags. The names and defaults are
// k3s's, so k3s users' scripts and config files carry over.
func newServerFlags() (*serverOptions, *pflag.FlagSet) {
	o := &serverOptions{}
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	fs.StringVarP(&o.configFile, "config", "c", defaultConfigFile, "YAML file of flag values (keys are flag names)")
	fs.StringVarP(&o.dataDir, "data-dir", "d", "/var/lib/kite", "directory holding all state")
	fs.StringVarP(&o.token, "token", "t", "", "shared secret servers and agents use to join the cluster (generated when empty)")
	fs.StringVarP(&o.serverURL, "server", "s", "", "URL of an existing server to join, e.g. https://10.0.0.1:6443")
	fs.BoolVar(&o.clusterInit, "cluster-init", false, "start a new cluster with embedded etcd")
	fs.IntVar(&o.httpsPort, "https-listen-port", 6443, "API server port")
	fs.StringVar(&o.bindAddress, "bind-address", "0.0.0.0", "address the API server listens on")
	fs.StringVar(&o.advertiseAddress, "advertise-address", "", "address other nodes use to reach this server (default: --node-ip)")
	fs.StringSliceVar(&o.tlsSANs, "tls-san", nil, "extra host names or IPs for the serving certificate (repeatable, comma-separated)")
	fs.StringVarP(&o.writeKubeconfig, "write-kubeconfig", "o", "/etc/kite/kite.yaml", "where to write the admin kubeconfig")
	fs.StringVar(&o.writeKubeconfigMode, "write-kubeconfig-mode", "0600", "file mode of the admin kubeconfig, in octal")
	fs.StringVar(&o.clusterCIDR, "cluster-cidr", "10.42.0.0/16", "pod network; each node gets a /24 of it")
	fs.StringVar(&o.serviceCIDR, "service-cidr", "10.43.0.0/16", "Service ClusterIP range")
	fs.StringVar(&o.clusterDNS, "cluster-dns", "", "cluster DNS address (default: the 10th address of --service-cidr, 10.43.0.10)")
	fs.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain")
	fs.StringVar(&o.nodePortRange, "service-node-port-range", "30000-32767", "port range for NodePort Services")
	fs.StringSliceVar(&o.disable, "disable", nil, "packaged parts to turn off: "+disableableList()+" (repeatable, comma-separated)")
	fs.BoolVar(&o.disableAgent, "disable-agent", false, "run only the control plane, no kubelet on this node")
	fs.BoolVar(&o.disableControllerManager, "disable-controller-manager", false, "run no controllers (garbage collector, ...) on this server")
	fs.BoolVar(&o.disableScheduler, "disable-scheduler", false, "run no scheduler on this server")
	fs.DurationVar(&o.leaderElectLease, "leader-elect-lease-duration", 15*time.Second, "how long a standby server waits after the leader's last renewal before taking over the controllers and scheduler")
	fs.DurationVar(&o.leaderElectRenew, "leader-elect-renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before it stops acting (less than the lease duration)")
	fs.DurationVar(&o.leaderElectRetry, "leader-elect-retry-period", 2*time.Second, "how often leader and standbys renew or try the lease")
	addNodeFlags(fs, &o.node)
	fs.StringVar(&o.datastoreEndpoint, "datastore-endpoint", "", "external etcd endpoints (comma-separated URLs) instead of embedded etcd")
	fs.IntVar(&o.etcdClientPort, "etcd-client-port", 2379, "embedded etcd client port")
	fs.IntVar(&o.etcdPeerPort, "etcd-peer-port", 2380, "embedded etcd peer port")
	return o, fs
}

func newServerCommand() *cobra.Command {
	opts, flags := newServerFlags()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a control plane (and, unless --disable-agent, an agent) on this node",
		Long: "Run a control plane (and, unless --disable-agent, an agent) on this node.\n\n" +
			"Every flag can also be set as KITE_<FLAG> in the environment (for example\n" +
			"KITE_DATA_DIR) or as a key in the --config file. A flag on the command line\n" +
			"wins over the environment, which wins over the config file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			setupLogging()
			cfg, err := loadServerConfig(cmd.Flags(), opts, os.LookupEnv, systemHost{})
			if err != nil {
				return err
			}
			if err := preflight(cfg); err != nil {
				return err
			}
			var node *agent.Config
			if !cfg.DisableAgent {
				agentCfg, err := nodeConfig(&opts.node, systemHost{})
				if err != nil {
					return err
				}
				agentCfg.DataDir = cfg.DataDir
				agentCfg.ControlPlane = true
				node = &agentCfg
			}
			return runServer(cmd.Context(), cfg, node)
		},
	}
	cmd.Flags().AddFlagSet(flags)
	return cmd
}

// runServer runs the server, and the agent of this node unless node is
// nil, until SIGINT or SIGTERM, then waits for them to shut down cleanly.
// A second signal kills the process at once, for the operator whose
// shutdown hangs.
func runServer(parent context.Context, cfg server.Config, node *agent.Config) error {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			stop() // restore default signal handling: the next signal kills
			slog.Info("shutting down; signal again to exit immediately")
		case <-done:
		}
	}()

	slog.Info("starting kite server",
		"version", version,
		"data-dir", cfg.DataDir,
		"node", cfg.NodeName,
		"node-ip", cfg.NodeIP.String(),
		"https-port", cfg.HTTPSPort)
	s, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	// agentDone stays nil (never ready) without an agent.
	var agentDone chan error
	if node != nil {
		// The in-process agent joins through the same door as any other:
		// the server's loopback URL and its token.
		node.ServerURL, node.Token = s.URL, s.Token
		agentDone = make(chan error, 1)
		go func() { agentDone <- agent.Run(ctx, *node) }()
	}
	serverDone := make(chan error, 1)
	go func() { serverDone <- s.Wait() }()
	select {
	case err = <-serverDone:
		stop()
		if agentDone != nil {
			<-agentDone
		}
	case err = <-agentDone:
		// The node failed: without it this server cannot run pods, which
		// the user asked it to; stop rather than limp on half-working.
		if err != nil {
			err = fmt.Errorf("agent: %w", err)
		}
		stop()
		if serverErr := <-serverDone; err == nil {
			err = serverErr
		}
	}
	if err != nil {
		return err
	}
	slog.Info("kite server stopped")
	return nil
}
