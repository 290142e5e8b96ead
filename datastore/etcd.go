// Package datastore runs the embedded etcd member of a kite server and hands
// the rest of the server a client for it.
package datastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Datastore is a running etcd member plus a client to it.
type Datastore struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	endpoints []string

	stopCompactor context.CancelFunc
	compactorDone chan struct{}
	closeOnce     sync.Once
	closeErr      error
}

// quotaBackendBytes is the database size at which etcd raises its NOSPACE
// alarm and refuses writes. A full stop is far worse for users than disk
// use, so it is set above etcd's 2 GiB default; it costs no memory.
const quotaBackendBytes = 4 << 30

// Start runs a single-member etcd in cfg.DataDir: a new cluster when the
// directory holds no member data, otherwise a restart of the existing
// member. It returns once the member serves requests, or fails after
// cfg.ReadyTimeout. ctx bounds the start only; Close stops the member.
func Start(ctx context.Context, cfg Config) (*Datastore, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("etcd configuration: %w", err)
	}
	log := slog.Default().With("component", "datastore")
	started := time.Now()

	dir := filepath.Join(cfg.DataDir, "etcd")
	// etcd itself insists on 0700 for its data directory.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create etcd data directory: %w", err)
	}
	restart := hasMemberData(dir)
	name, err := memberName(dir, cfg.Name)
	if err != nil {
		return nil, err
	}

	ecfg := embedConfig(cfg, dir, name, chooseTiming(dir))
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, explainStartError(err, cfg)
	}

	if err := waitReady(ctx, e, cfg.ReadyTimeout); err != nil {
		e.Close()
		return nil, err
	}

	// The API server lives in this process, so it reaches etcd through
	// etcd's in-process client: no socket, hence nothing on the wire to
	// encrypt, and none of the gRPC and TLS work that otherwise costs about
	// a fifth of the CPU of every write. Everything that does connect from
	// outside (etcdctl, peers) must use TLS with a certificate from the
	// etcd CA.
	client := v3client.New(e.Server)

	compactCtx, stop := context.WithCancel(context.Background())
	d := &Datastore{
		etcd:          e,
		client:        client,
		endpoints:     []string{(&url.URL{Scheme: "https", Host: net.JoinHostPort(cfg.ClientHost, strconv.Itoa(cfg.ClientPort))}).String()},
		stopCompactor: stop,
		compactorDone: make(chan struct{}),
	}
	c := &compactor{client: client, interval: cfg.CompactInterval, log: log}
	go func() {
		defer close(d.compactorDone)
		c.run(compactCtx)
	}()

	log.Info("etcd ready", "name", name, "endpoint", d.endpoints[0], "restart", restart,
		"took", time.Since(started).Round(time.Millisecond))
	return d, nil
}

// embedConfig translates our Config into etcd's.
func embedConfig(cfg Config, dir, name string, timing raftTiming) *embed.Config {
	clientURL := url.URL{Scheme: "https", Host: net.JoinHostPort(cfg.ClientHost, strconv.Itoa(cfg.ClientPort))}
	peerURL := url.URL{Scheme: "https", Host: net.JoinHostPort(cfg.PeerHost, strconv.Itoa(cfg.PeerPort))}

	ecfg := embed.NewConfig()
	ecfg.Name = name
	ecfg.Dir = dir
	ecfg.ListenClientUrls = []url.URL{clientURL}
	ecfg.AdvertiseClientUrls = []url.URL{clientURL}
	ecfg.ListenPeerUrls = []url.URL{peerURL}
	ecfg.AdvertisePeerUrls = []url.URL{peerURL}
	// Only read when bootstrapping; a restart takes membership from the WAL.
	ecfg.ClusterState = embed.ClusterStateFlagNew
	ecfg.InitialCluster = name + "=" + peerURL.String()
	ecfg.InitialClusterToken = "kite"
	ecfg.TickMs = timing.tickMs
	ecfg.ElectionMs = timing.electionMs

	// Every connection must present a certificate from the etcd CA.
	tls := transport.TLSInfo{
		CertFile:       cfg.CertFile,
		KeyFile:        cfg.KeyFile,
		TrustedCAFile:  cfg.CAFile,
		ClientCertAuth: true,
	}
	ecfg.ClientTLSInfo = tls
	ecfg.PeerTLSInfo = tls

	// We compact ourselves (see compactor); etcd's own compactor would
	// not coordinate with other servers. A zero retention disables it, but
	// etcd still insists on a valid mode.
	ecfg.AutoCompactionMode = embed.CompactorModePeriodic
	ecfg.AutoCompactionRetention = "0"
	ecfg.QuotaBackendBytes = quotaBackendBytes
	// Every acknowledged write must survive kill -9 and power loss.
	ecfg.UnsafeNoFsync = false
	// The JSON gateway is unused (the API server speaks gRPC) and costs
	// memory and start time.
	ecfg.EnableGRPCGateway = false

	ecfg.Logger = "zap"
	ecfg.LogLevel = "warn"
	ecfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger("etcd", serverLogLevel))
	return ecfg
}

// waitReady blocks until the member has joined the raft cluster and serves
// client requests, it fails, or the wait is bounded out.
func waitReady(ctx context.Context, e *embed.Etcd, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("etcd stopped while starting: %w", err)
	case <-timer.C:
		return fmt.Errorf("etcd was not ready after %s (a restarted member of a multi-server cluster waits for a quorum of its peers)", timeout)
	case <-ctx.Done():
		return fmt.Errorf("waiting for etcd to start: %w", ctx.Err())
	}
}

// newClient returns a TLS client that authenticates with the API server's
// etcd certificate, as a client in another process must.
func newClient(cfg Config) (*clientv3.Client, error) {
	tlsCfg, err := transport.TLSInfo{
		CertFile:      cfg.ClientCertFile,
		KeyFile:       cfg.ClientKeyFile,
		TrustedCAFile: cfg.CAFile,
	}.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd client TLS: %w", err)
	}
	endpoint := (&url.URL{Scheme: "https", Host: net.JoinHostPort(cfg.ClientHost, strconv.Itoa(cfg.ClientPort))}).String()
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		TLS:         tlsCfg,
		DialTimeout: 5 * time.Second,
		Logger:      newZapLogger("etcd-client", clientLogLevel),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return client, nil
}

// PortInUseError says that one of etcd's ports is taken, usually by
// another kite server or etcd on this machine.
type PortInUseError struct {
	Role string // "client" or "peer"
	Addr string // host:port
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("etcd %s port %s is already in use (is another kite server or etcd running?)", e.Role, e.Addr)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// explainStartError turns "address already in use" into a PortInUseError
// naming the port, and adds context to anything else.
func explainStartError(err error, cfg Config) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		clientAddr := net.JoinHostPort(cfg.ClientHost, strconv.Itoa(cfg.ClientPort))
		peerAddr := net.JoinHostPort(cfg.PeerHost, strconv.Itoa(cfg.PeerPort))
		role, addr := "client", clientAddr
		// The listen error names the address; compare ports only, since the
		// host may be spelled differently (a name versus its IP).
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Addr != nil {
			if _, port, perr := net.SplitHostPort(opErr.Addr.String()); perr == nil && port == strconv.Itoa(cfg.PeerPort) {
				role, addr = "peer", peerAddr
			}
		}
		return &PortInUseError{Role: role, Addr: addr, Err: err}
	}
	return fmt.Errorf("start etcd: %w", err)
}

// Client returns the shared etcd client; it stays valid until Close.
func (d *Datastore) Client() *clientv3.Client { return d.client }

// Endpoints returns the client URLs of this member.
func (d *Datastore) Endpoints() []string { return d.endpoints }

// Close stops compaction, closes the client and then stops etcd, which
// flushes and closes its database cleanly. It is safe to call twice.
func (d *Datastore) Close() error {
	d.closeOnce.Do(func() {
		d.stopCompactor()
		<-d.compactorDone
		d.closeErr = d.client.Close()
		if errors.Is(d.closeErr, context.Canceled) {
			d.closeErr = nil // the client reports its own shutdown this way
		}
		d.etcd.Close()
	})
	return d.closeErr
}
