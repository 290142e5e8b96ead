package main

import (
	"github.com/spf13/cobra"

	"kite/agent/runtime"
)

// newContainerdCommand is `kite containerd`, the embedded containerd the
// agent runs as its child. Hidden: users never run it themselves.
func newContainerdCommand() *cobra.Command {
	return &cobra.Command{
		Use:    runtime.ContainerdName,
		Short:  "Run the embedded containerd (all arguments are passed through)",
		Hidden: true,
		// containerd parses its own flags, --help included.
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := runtime.RunContainerd(args); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}
