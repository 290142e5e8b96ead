package probe

import (
	"context"
	"fmt"
	"net"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port
	refused := closedPort(t)
	container := &v1.Container{Ports: []v1.ContainerPort{{Name: "db", ContainerPort: int32(open)}}}

	tests := []struct {
		name    string
		action  v1.TCPSocketAction
		podIP   string
		want    Result
		wantMsg string
	}{
		{name: "open", action: v1.TCPSocketAction{Port: intstr.FromInt32(int32(open))}, podIP: "127.0.0.1", want: Success},
		{name: "named port", action: v1.TCPSocketAction{Port: intstr.FromString("db")}, podIP: "127.0.0.1", want: Success},
		{name: "host overrides pod IP", action: v1.TCPSocketAction{Host: "127.0.0.1", Port: intstr.FromInt32(int32(open))}, podIP: "192.0.2.1", want: Success},
		{name: "refused", action: v1.TCPSocketAction{Port: intstr.FromInt32(int32(refused))}, podIP: "127.0.0.1", want: Failure,
			wantMsg: fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", refused)},
		{name: "bad port", action: v1.TCPSocketAction{Port: intstr.FromString("nope")}, podIP: "127.0.0.1", want: Unknown, wantMsg: `port "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &tt.action}, TimeoutSeconds: 2}
			got, msg := Run(context.Background(), p, Target{PodIP: tt.podIP, Container: container})
			if got != tt.want || msg != tt.wantMsg {
				t.Errorf("got %v %q, want %v %q", got, msg, tt.want, tt.wantMsg)
			}
		})
	}
}
