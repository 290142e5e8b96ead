package probe

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// startGRPC serves on loopback, with the health service when withHealth.
func startGRPC(t *testing.T, withHealth bool) (int32, *health.Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	var hs *health.Server
	if withHealth {
		hs = health.NewServer()
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
		healthpb.RegisterHealthServer(srv, hs)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return int32(l.Addr().(*net.TCPAddr).Port), hs
}

func TestGRPCProbe(t *testing.T) {
	port, _ := startGRPC(t, true)
	bare, _ := startGRPC(t, false)
	refused := int32(closedPort(t))

	tests := []struct {
		name    string
		action  v1.GRPCAction
		want    Result
		wantMsg string // prefix
	}{
		{name: "serving", action: v1.GRPCAction{Port: port}, want: Success, wantMsg: "service healthy"},
		{name: "not serving", action: v1.GRPCAction{Port: port, Service: ptr.To("db")}, want: Failure, wantMsg: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", action: v1.GRPCAction{Port: port, Service: ptr.To("nope")}, want: Failure,
			wantMsg: "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{name: "no health service", action: v1.GRPCAction{Port: bare}, want: Failure,
			wantMsg: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{name: "nothing listening", action: v1.GRPCAction{Port: refused}, want: Failure,
			wantMsg: fmt.Sprintf(`timeout: failed to connect service "127.0.0.1:%d" within 1s`, refused)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &tt.action}, TimeoutSeconds: 1}
			got, msg := Run(context.Background(), p, Target{PodIP: "127.0.0.1", Container: &v1.Container{}})
			if got != tt.want || !strings.HasPrefix(msg, tt.wantMsg) {
				t.Errorf("got %v %q, want %v %q", got, msg, tt.want, tt.wantMsg)
			}
		})
	}
}
