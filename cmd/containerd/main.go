// Command containerd is the container runtime the kite agent runs as its
// child. It is built by `make build` and appended to the kite binary,
// which installs it under <data-dir>/bin (see agent/runtime/bundle).
package main

import (
	"os"

	"kite/agent/runtime/containerdmain"
)

func main() {
	os.Exit(containerdmain.Run(os.Args[1:]))
}
