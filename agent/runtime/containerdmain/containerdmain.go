// Package containerdmain is the body of kite's containerd program
// (cmd/containerd): upstream containerd with the plugins a CRI node needs.
// It is a package of its own, imported by nothing of the server or the
// kubelet, so the program stays small and starts fast.
package containerdmain

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/cmd/containerd/command"
)

// Name is the program's name, on disk and in argv[0].
const Name = "containerd"

// Run runs containerd with its command-line arguments (without the program
// name) and returns the exit code.
func Run(args []string) int {
	if err := command.App().Run(context.Background(), append([]string{Name}, args...)); err != nil {
		fmt.Fprintln(os.Stderr, Name+":", err)
		return 1
	}
	return 0
}
