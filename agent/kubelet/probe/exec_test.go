package probe

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	v1 "k8s.io/api/core/v1"
	criclient "k8s.io/cri-client/pkg"
)

func TestExecProbe(t *testing.T) {
	container := &v1.Container{Name: "app", Env: []v1.EnvVar{{Name: "FILE", Value: "/tmp/ready"}}}
	tests := []struct {
		name     string
		command  []string
		exec     func(context.Context, []string, time.Duration) ([]byte, int, error)
		want     Result
		wantMsg  string
		wantCmd  []string
		noTarget bool
	}{
		{
			name: "exit 0", command: []string{"cat", "$(FILE)"},
			exec: func(context.Context, []string, time.Duration) ([]byte, int, error) { return []byte("ok\n"), 0, nil },
			want: Success, wantMsg: "ok\n", wantCmd: []string{"cat", "/tmp/ready"},
		},
		{
			name: "non-zero exit", command: []string{"false"},
			exec: func(context.Context, []string, time.Duration) ([]byte, int, error) { return []byte("nope"), 1, nil },
			want: Failure, wantMsg: "nope",
		},
		{
			name: "context timeout", command: []string{"sleep", "10"},
			exec: func(ctx context.Context, _ []string, _ time.Duration) ([]byte, int, error) {
				return nil, 0, fmt.Errorf("exec: %w", context.DeadlineExceeded)
			},
			want: Failure, wantMsg: `command "sleep 10" timed out after 2s`,
		},
		{
			name: "CRI client timeout", command: []string{"sleep", "10"},
			exec: func(context.Context, []string, time.Duration) ([]byte, int, error) {
				return nil, 0, fmt.Errorf("%w: %q timed out after 2s", criclient.ErrCommandTimedOut, "sleep 10")
			},
			want: Failure, wantMsg: `command "sleep 10" timed out after 2s`,
		},
		{
			name: "gRPC deadline", command: []string{"sleep", "10"},
			exec: func(context.Context, []string, time.Duration) ([]byte, int, error) {
				return nil, 0, status.Error(codes.DeadlineExceeded, "deadline")
			},
			want: Failure, wantMsg: `command "sleep 10" timed out after 2s`,
		},
		{
			name: "runtime error", command: []string{"true"},
			exec: func(context.Context, []string, time.Duration) ([]byte, int, error) {
				return nil, 0, errors.New("container not running")
			},
			want: Unknown, wantMsg: "container not running",
		},
		{name: "no exec function", command: []string{"true"}, noTarget: true, want: Unknown, wantMsg: "exec probe: no way to run commands in container app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotCmd []string
			var gotTimeout time.Duration
			target := Target{Container: container}
			if !tt.noTarget {
				target.Exec = func(ctx context.Context, cmd []string, timeout time.Duration) ([]byte, int, error) {
					gotCmd, gotTimeout = cmd, timeout
					if _, ok := ctx.Deadline(); !ok {
						t.Error("exec context has no deadline")
					}
					return tt.exec(ctx, cmd, timeout)
				}
			}
			p := &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: tt.command}}, TimeoutSeconds: 2}
			got, msg := Run(context.Background(), p, target)
			if got != tt.want || msg != tt.wantMsg {
				t.Errorf("got %v %q, want %v %q", got, msg, tt.want, tt.wantMsg)
			}
			if tt.wantCmd != nil && !reflect.DeepEqual(gotCmd, tt.wantCmd) {
				t.Errorf("command = %q, want %q", gotCmd, tt.wantCmd)
			}
			if !tt.noTarget && gotTimeout != 2*time.Second {
				t.Errorf("timeout = %v, want 2s", gotTimeout)
			}
		})
	}
}

func TestRunWithoutHandler(t *testing.T) {
	got, msg := Run(context.Background(), &v1.Probe{}, Target{Container: &v1.Container{Name: "app"}})
	if got != Unknown || !strings.Contains(msg, "missing probe handler") {
		t.Errorf("got %v %q", got, msg)
	}
}

func TestResultString(t *testing.T) {
	for r, want := range map[Result]string{Success: "success", Failure: "failure", Unknown: "unknown"} {
		if r.String() != want {
			t.Errorf("%d.String() = %q", r, r.String())
		}
	}
}
