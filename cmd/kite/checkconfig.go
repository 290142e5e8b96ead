package main

import (
	"github.com/spf13/cobra"

	"kite/agent/runtime"
)

// newCheckConfigCommand is `kite check-config`: one line per thing a node
// needs from its host, and a non-zero exit if something is missing.
func newCheckConfigCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check-config",
		Short: "Check that this host has what a kite node needs (runc, iptables, CNI plugins, kernel features)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			report := runtime.CheckPrerequisites(true)
			if _, err := report.WriteTo(cmd.OutOrStdout()); err != nil {
				return err
			}
			return report.Err()
		},
	}
}
