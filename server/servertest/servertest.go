// Package servertest starts a complete in-process kite server (embedded
// etcd in a temp dir, random ports) for integration tests and benchmarks.
package servertest

import (
	"context"
	"net"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kite/server"
)

// Server is a running test server.
type Server struct {
	Config  *rest.Config
	Client  kubernetes.Interface
	DataDir string
	Running *server.Running
	cancel  context.CancelFunc
	done    chan error
}

// Start starts a server that is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartIn(t.TempDir())
	if err != nil {
		t.Fatalf("starting kite server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartIn starts a server with its data in dir.
func StartIn(dir string) (*Server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	_, clusterCIDR, _ := net.ParseCIDR("10.42.0.0/16")
	_, serviceCIDR, _ := net.ParseCIDR("10.43.0.0/16")
	cfg := server.Config{
		DataDir: dir, BindAddress: "127.0.0.1", HTTPSPort: ports[0],
		AdvertiseAddress: net.ParseIP("127.0.0.1"), NodeName: "test-node", NodeIP: net.ParseIP("127.0.0.1"),
		ClusterCIDR: clusterCIDR, ServiceCIDR: serviceCIDR, ClusterDNS: net.ParseIP("10.43.0.10"), ClusterDomain: "cluster.local",
		NodePortRange: server.PortRange{Base: 30000, Size: 2768}, DisableAgent: true,
		EtcdClientPort: ports[1], EtcdPeerPort: ports[2],
	}
	ctx, cancel := context.WithCancel(context.Background())
	running, err := server.Start(ctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	rc := &rest.Config{
		Host:            running.URL,
		TLSClientConfig: rest.TLSClientConfig{CAFile: running.PKI.CAFile, CertFile: running.PKI.AdminCertFile, KeyFile: running.PKI.AdminKeyFile},
		QPS:             -1,
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Server{Config: rc, Client: client, DataDir: dir, Running: running, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- running.Wait() }()
	return s, nil
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
