package kubelet

import (
	"os"
	"testing"

	"kite/agent/runtime"
)

// TestMain lets the test binary stand in for kite in the integration
// test: the runtime supervisor runs it as `containerd`, and containerd runs
// it as the runc shim.
func TestMain(m *testing.M) {
	if runtime.ExecName(os.Args[0]) == runtime.ShimName {
		os.Exit(runtime.RunShim(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == runtime.ContainerdName {
		os.Exit(runtime.RunContainerd(os.Args[2:]))
	}
	os.Exit(m.Run())
}
