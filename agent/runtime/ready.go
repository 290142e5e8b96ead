package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// errNoCRI means the runtime answers gRPC but serves no CRI: containerd's
// CRI plugin failed to load.
var errNoCRI = errors.New("the runtime answers but serves no CRI (its CRI plugin did not load)")

// criVersion asks the runtime at endpoint (unix:///path) for its CRI
// version once.
func criVersion(ctx context.Context, endpoint string) (*runtimeapi.VersionResponse, error) {
	// A plain connect first: until the socket accepts, gRPC would only
	// log a warning per attempt.
	if path, ok := strings.CutPrefix(endpoint, "unix://"); ok {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, err
		}
		c.Close()
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	v, err := runtimeapi.NewRuntimeServiceClient(conn).Version(ctx, &runtimeapi.VersionRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil, errNoCRI
	}
	return v, err
}

// waitForCRI polls endpoint until it answers CRI, the deadline passes,
// ctx ends, or exited (the process expected to serve it) is closed.
func waitForCRI(ctx context.Context, endpoint string, timeout time.Duration, exited <-chan struct{}) (*runtimeapi.VersionResponse, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		v, err := criVersion(attempt, endpoint)
		cancel()
		if err == nil {
			return v, nil
		}
		if errors.Is(err, errNoCRI) {
			return nil, err
		}
		lastErr = err
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no CRI answer on %s within %s: %w", endpoint, timeout, lastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-exited:
			return nil, errors.New("the process exited before serving CRI")
		case <-tick.C:
		}
	}
}
