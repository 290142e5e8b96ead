package runtime

import (
	"testing"

	"kite/agent/runtime/runtimetest"
)

// TestMain lets the test binary stand in for containerd and the runc shim.
func TestMain(m *testing.M) { runtimetest.Main(m) }
