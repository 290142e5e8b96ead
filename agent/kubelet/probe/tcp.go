package probe

import (
	"context"
	"net"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
)

func runTCP(ctx context.Context, s *v1.TCPSocketAction, c *v1.Container, podIP string, timeout time.Duration) (Result, string) {
	port, err := containerPort(s.Port, c)
	if err != nil {
		return Unknown, err.Error()
	}
	host := s.Host
	if host == "" {
		host = podIP
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error()
	}
	_ = conn.Close()
	return Success, ""
}
