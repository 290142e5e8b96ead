package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"kite/agent"
)

// newCleanupCommand is `kite cleanup`: it removes the Service rules the
// proxy leaves in the kernel on purpose when kite stops (so traffic keeps
// flowing across restarts), for an uninstall or a node taken out of use.
func newCleanupCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Remove the service proxy's iptables and nftables rules from this host (run after stopping kite)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := agent.CleanupProxy("", slog.Default()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "service proxy rules removed")
			return nil
		},
	}
}
