package kubelet

import (
	"testing"

	"kite/agent/runtime/runtimetest"
)

// TestMain lets the test binary stand in for containerd and the runc shim
// in the integration test.
func TestMain(m *testing.M) { runtimetest.Main(m) }
