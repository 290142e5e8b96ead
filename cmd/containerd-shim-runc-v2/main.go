// Command containerd-shim-runc-v2 is the runc shim kite's containerd runs
// for each pod. It is built by `make build` and appended to the kite
// binary, which installs it under <data-dir>/bin (see agent/runtime/bundle).
package main

import (
	"os"

	"kite/agent/runtime/shimmain"
)

func main() {
	shimmain.Run(os.Args[1:])
}
