// Package controllertest holds what the controllers' integration tests
// share: an API server with controllers running, the kubelet's part
// (Ready nodes, pod phases and readiness) that the test server lacks,
// and bounded waits. It is used by tests only.
package controllertest
