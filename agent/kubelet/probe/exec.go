package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	v1 "k8s.io/api/core/v1"
	criclient "k8s.io/cri-client/pkg"

	"kite/agent/kubelet/envvars"
)

// execGrace is how much longer than the probe's timeout the call may take,
// so the runtime itself can report the timeout and clean up.
const execGrace = 10 * time.Second

func runExec(ctx context.Context, action *v1.ExecAction, c *v1.Container, exec func(context.Context, []string, time.Duration) ([]byte, int, error), timeout time.Duration) (Result, string) {
	if exec == nil {
		return Unknown, "exec probe: no way to run commands in container " + c.Name
	}
	// Probe commands see only the literal values of the container's env.
	cmd := envvars.ExpandStatic(action.Command, c.Env)
	ctx, cancel := context.WithTimeout(ctx, timeout+execGrace)
	defer cancel()
	out, code, err := exec(ctx, cmd, timeout)
	if err != nil {
		if isTimeout(err) {
			return Failure, fmt.Sprintf("command %q timed out after %v", strings.Join(cmd, " "), timeout)
		}
		return Unknown, err.Error()
	}
	if code != 0 {
		return Failure, string(out)
	}
	return Success, string(out)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, criclient.ErrCommandTimedOut) {
		return true
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	return errors.As(err, &withStatus) && withStatus.GRPCStatus().Code() == codes.DeadlineExceeded
}
