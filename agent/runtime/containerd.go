package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	shimmanager "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/cmd/containerd/command"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"

	// The runc shim's task service, registered as a ttrpc plugin.
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
)

// ShimName is the name kite answers to as containerd's runc shim;
// containerd finds it on its PATH for runtime io.containerd.runc.v2.
const ShimName = "containerd-shim-runc-v2"

// ContainerdName is the multicall name (and kite subcommand) that runs
// containerd itself.
const ContainerdName = "containerd"

// execAsEnv carries the multicall name across the one re-exec that cannot
// keep it in argv[0]: the shim starts its long-running copy from
// os.Executable(), the kite binary's real path.
const execAsEnv = "KITE_EXEC_AS"

// ExecName is the program this process was started as: argv[0]'s base
// name, unless it is the shim's own re-exec.
func ExecName(argv0 string) string {
	if name := os.Getenv(execAsEnv); name == ShimName {
		return name
	}
	return filepath.Base(argv0)
}

// RunContainerd runs containerd with its command-line arguments (without
// the program name) and returns the exit code.
func RunContainerd(args []string) int {
	// The shim's task service shares the binary but belongs in the shim.
	keepPlugins(func(r plugin.Registration) bool { return !isShimTaskPlugin(r) })
	app := command.App()
	if err := app.Run(context.Background(), append([]string{ContainerdName}, args...)); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		return 1
	}
	return 0
}

// RunShim runs the runc shim with its command-line arguments (without the
// program name) and returns the exit code.
func RunShim(args []string) int {
	// A shim loads every registered plugin; containerd's own would fail
	// there, so only the shim's task service stays.
	keepPlugins(isShimTaskPlugin)
	if err := os.Setenv(execAsEnv, ShimName); err != nil {
		fmt.Fprintln(os.Stderr, ShimName+":", err)
		return 1
	}
	// The shim reads its flags from os.Args with the standard flag package.
	os.Args = append([]string{ShimName}, args...)
	shim.RunShim(context.Background(), shimmanager.NewShimManager("io.containerd.runc.v2"))
	return 0
}

func isShimTaskPlugin(r plugin.Registration) bool {
	return r.Type == plugins.TTRPCPlugin && r.ID == "task"
}

// keepPlugins drops every registered containerd plugin that keep rejects.
func keepPlugins(keep func(plugin.Registration) bool) {
	all := registry.Graph(func(*plugin.Registration) bool { return false })
	registry.Reset()
	for _, r := range all {
		if keep(r) {
			registry.Register(&r)
		}
	}
}
