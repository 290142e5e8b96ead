package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// version is what `kite version` and the API server report. The Makefile
// sets it with -ldflags "-X main.version=..."; the default names the
// Kubernetes release kite tracks.
var version = "v1.37.2+kite"

// versionText is shared by `kite version` and `kite --version` so both
// print the same thing.
func versionText() string {
	return fmt.Sprintf("kite version %s\ngo version %s\n", version, runtime.Version())
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the kite version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}
