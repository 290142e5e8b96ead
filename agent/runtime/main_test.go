package runtime

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for kite: the supervisor under
// test runs it as `<test binary> containerd --config ...`, and containerd
// runs it as the runc shim through the containerd-shim-runc-v2 link.
func TestMain(m *testing.M) {
	if ExecName(os.Args[0]) == ShimName {
		os.Exit(RunShim(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == ContainerdName {
		os.Exit(RunContainerd(os.Args[2:]))
	}
	os.Exit(m.Run())
}
