// Package probe runs a container's liveness, readiness and startup probes
// (exec, httpGet, tcpSocket and grpc) the way the kubelet does, with the
// kubelet's result messages.
package probe

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
)

// Result is the outcome of one probe run.
type Result int

const (
	// Success: the container passed.
	Success Result = iota
	// Failure: the container answered wrong or not at all.
	Failure
	// Unknown: the probe could not be run (bad port, no handler, runtime
	// error); the kubelet counts it as a failure but reports it as an error.
	Unknown
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	default:
		return "unknown"
	}
}

// Target is the container a probe runs against. Exec runs a command in it
// through the runtime (CRI ExecSync) and reports its combined output and
// exit code; err is for failures to run it at all, and a timeout is an
// error that wraps context.DeadlineExceeded, a gRPC DeadlineExceeded status
// or the CRI client's ErrCommandTimedOut.
type Target struct {
	PodIP     string
	Container *v1.Container
	Exec      func(ctx context.Context, cmd []string, timeout time.Duration) (output []byte, exitCode int, err error)
}

// Run runs p once against t and returns its result and the message the
// kubelet shows in a probe event (the response body or command output on
// success, the reason on failure).
func Run(ctx context.Context, p *v1.Probe, t Target) (Result, string) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second // the API's default
	}
	container := t.Container
	if container == nil {
		container = &v1.Container{}
	}
	switch {
	case p.Exec != nil:
		return runExec(ctx, p.Exec, container, t.Exec, timeout)
	case p.HTTPGet != nil:
		return runHTTP(ctx, p.HTTPGet, container, t.PodIP, timeout)
	case p.TCPSocket != nil:
		return runTCP(ctx, p.TCPSocket, container, t.PodIP, timeout)
	case p.GRPC != nil:
		return runGRPC(ctx, p.GRPC, t.PodIP, timeout)
	}
	return Unknown, "missing probe handler for container " + container.Name
}
