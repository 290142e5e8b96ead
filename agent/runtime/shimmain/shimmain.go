// Package shimmain is the body of kite's runc shim program
// (cmd/containerd-shim-runc-v2), which containerd starts once per pod. It
// imports nothing but the shim, so each pod's shim starts in milliseconds
// and holds little memory.
package shimmain

import (
	"context"
	"os"

	shimmanager "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/pkg/shim"

	// The shim's task service, registered as a ttrpc plugin.
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
)

// Name is the program's name: containerd finds it on its PATH for the
// runtime type io.containerd.runc.v2.
const Name = "containerd-shim-runc-v2"

// Run runs the shim with its command-line arguments (without the program
// name); the shim exits the process itself.
func Run(args []string) {
	// The shim reads its flags from os.Args with the standard flag package.
	os.Args = append([]string{Name}, args...)
	shim.RunShim(context.Background(), shimmanager.NewShimManager("io.containerd.runc.v2"))
}
