package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kite/agent"
)

// agentOptions holds `kite agent` settings as the user typed them.
type agentOptions struct {
	configFile string
	dataDir    string
	serverURL  string
	token      string
	tokenFile  string
	node       nodeOptions
}

func newAgentFlags() (*agentOptions, *pflag.FlagSet) {
	o := &agentOptions{}
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.StringVarP(&o.configFile, "config", "c", defaultConfigFile, "YAML file of flag values (keys are flag names)")
	fs.StringVarP(&o.dataDir, "data-dir", "d", "/var/lib/kite", "directory holding all state")
	fs.StringVarP(&o.serverURL, "server", "s", "", "URL of a server to join, e.g. https://10.0.0.1:6443")
	fs.StringVarP(&o.token, "token", "t", "", "the cluster's join token (printed by the server, also in <data-dir>/server/token there)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the join token")
	addNodeFlags(fs, &o.node)
	return o, fs
}

func newAgentCommand() *cobra.Command {
	opts, flags := newAgentFlags()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node that joins an existing server",
		Long: "Run a node (kubelet, container runtime, pod network) that joins the cluster of\n" +
			"--server with --token.\n\n" +
			"Every flag can also be set as KITE_<FLAG> in the environment or as a key in the\n" +
			"--config file. A flag on the command line wins over the environment, which wins\n" +
			"over the config file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			setupLogging()
			if err := layerFlags(cmd.Flags(), &opts.configFile, os.LookupEnv); err != nil {
				return err
			}
			cfg, err := buildAgentConfig(opts, systemHost{})
			if err != nil {
				return err
			}
			if err := checkWritableDir(cfg.DataDir, 0o700); err != nil {
				return fmt.Errorf("data dir %s is not usable: %v (run as root, or choose a writable --data-dir)", cfg.DataDir, err)
			}
			return runAgent(cmd.Context(), cfg)
		},
	}
	cmd.Flags().AddFlagSet(flags)
	return cmd
}

// buildAgentConfig validates the options into an agent.Config.
func buildAgentConfig(o *agentOptions, host hostInfo) (agent.Config, error) {
	cfg, err := nodeConfig(&o.node, host)
	if err != nil {
		return cfg, err
	}
	if cfg.DataDir, err = absPath("--data-dir", o.dataDir); err != nil {
		return cfg, err
	}
	if o.serverURL == "" {
		return cfg, errors.New("--server is required: the URL of a kite server, e.g. https://10.0.0.1:6443")
	}
	if err := checkServerURL(o.serverURL); err != nil {
		return cfg, err
	}
	cfg.ServerURL = o.serverURL
	token := strings.TrimSpace(o.token)
	if token == "" && o.tokenFile != "" {
		data, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return cfg, fmt.Errorf("--token-file %s: %w", o.tokenFile, unwrapPathError(err))
		}
		token = strings.TrimSpace(string(data))
	}
	if token == "" {
		return cfg, errors.New("--token is required (find it in <data-dir>/server/token on the server)")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return cfg, errors.New("--token must not contain whitespace")
	}
	cfg.Token = token
	return cfg, nil
}

// runAgent runs the agent until SIGINT or SIGTERM.
func runAgent(parent context.Context, cfg agent.Config) error {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.Info("starting kite agent", "version", version, "data-dir", cfg.DataDir, "node", cfg.NodeName, "node-ip", cfg.NodeIP.String(), "server", cfg.ServerURL)
	if err := agent.Run(ctx, cfg); err != nil {
		return err
	}
	slog.Info("kite agent stopped")
	return nil
}
