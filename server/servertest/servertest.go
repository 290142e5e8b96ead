// Package servertest starts a complete in-process kite server (embedded
// etcd in a temp dir, random ports) for integration tests and benchmarks.
package servertest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kite/server"
	"kite/server/controllers"
)

// Server is a running test server.
type Server struct {
	Config  *rest.Config
	Client  kubernetes.Interface
	DataDir string
	Running *server.Running
	// EtcdEndpoint is the URL of the embedded etcd member; EtcdClient
	// connects to it with the server's etcd client certificate.
	EtcdEndpoint string
	cancel       context.CancelFunc
	done         chan error
}

// Option changes the configuration of a test server.
type Option func(*server.Config)

// WithControllers runs the controllers and the scheduler too. By default a
// test server is the API alone, like upstream's API server integration
// tests, so tests see exactly what the API server does.
func WithControllers(cfg *server.Config) {
	cfg.DisableControllerManager = false
	cfg.DisableScheduler = false
	cfg.DisableServiceAccountAdmission = false
}

// WithServiceAccountAdmission gives new pods service accounts and their
// token volumes, as a real server does. Without the controllers no
// namespace has a default service account, so tests that want it create
// the service accounts their pods use.
func WithServiceAccountAdmission(cfg *server.Config) {
	cfg.DisableServiceAccountAdmission = false
}

// Start starts a server that is stopped when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := StartIn(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("starting kite server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartIn starts a server with its data in dir.
func StartIn(dir string, opts ...Option) (*Server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	_, clusterCIDR, _ := net.ParseCIDR("10.42.0.0/16")
	_, serviceCIDR, _ := net.ParseCIDR("10.43.0.0/16")
	cfg := server.Config{
		DataDir: dir, BindAddress: "127.0.0.1", HTTPSPort: ports[0],
		AdvertiseAddress: hostIP(), NodeName: "test-node", NodeIP: hostIP(),
		ClusterCIDR: clusterCIDR, ServiceCIDR: serviceCIDR, ClusterDNS: net.ParseIP("10.43.0.10"), ClusterDomain: "cluster.local",
		NodePortRange: server.PortRange{Base: 30000, Size: 2768}, DisableAgent: true,
		EtcdClientPort: ports[1], EtcdPeerPort: ports[2],
	}
	cfg.DisableControllerManager, cfg.DisableScheduler = true, true
	// Without the service-account controller there are no default
	// service accounts for new pods (upstream's API server integration
	// tests turn the ServiceAccount admission off likewise).
	cfg.DisableServiceAccountAdmission = true
	for _, o := range opts {
		o(&cfg)
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
	s := &Server{Config: rc, Client: client, DataDir: dir, Running: running, cancel: cancel, done: make(chan error, 1),
		EtcdEndpoint: "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.EtcdClientPort))}
	go func() { s.done <- running.Wait() }()
	return s, nil
}

// EtcdClient returns a client of the server's etcd (for tests that need to
// reach under the API, e.g. to compact); it is closed when the test ends.
func (s *Server) EtcdClient(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := s.newEtcdClient()
	if err != nil {
		t.Fatalf("connecting to etcd: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) newEtcdClient() (*clientv3.Client, error) {
	pki := s.Running.PKI
	tlsCfg, err := transport.TLSInfo{CertFile: pki.EtcdClientCertFile, KeyFile: pki.EtcdClientKeyFile, TrustedCAFile: pki.EtcdCAFile}.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd client TLS: %w", err)
	}
	return clientv3.New(clientv3.Config{Endpoints: []string{s.EtcdEndpoint}, TLS: tlsCfg, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
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

// hostIP is a non-loopback address of this machine: the kubernetes
// Endpoints may not point at loopback, as upstream validation insists.
func hostIP() net.IP {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return net.ParseIP("192.0.2.1") // TEST-NET-1: never routed, only named
}

// ControllerContext connects controllers to s, as the controller manager
// does; its informers and event sink stop when the test ends. Start
// controllers with cc.Run(ctx, replicaset.New(cc), ...) in a goroutine.
func (s *Server) ControllerContext(t testing.TB) *controllers.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cc, err := controllers.NewContext(ctx, s.Config)
	if err != nil {
		t.Fatalf("controller context: %v", err)
	}
	return cc
}
