package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"kite/datastore"
	"kite/internal/joinprotocol"
	"kite/server/apiserver"
	"kite/server/auth"
	"kite/server/registry"
	"kite/server/storage"
)

// Version is the Kubernetes version the server reports.
var Version = "v1.37.2+kite"

// Run starts the control plane and blocks until ctx is cancelled.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Wait()
}

// Running is a started server.
type Running struct {
	// PKI holds the certificates, including the admin client certificate.
	PKI *auth.PKI
	// URL is the loopback URL of the API server.
	URL string
	// Token is the cluster's join token, as agents and servers give it.
	Token    string
	ctx      context.Context
	srv      *http.Server
	serveErr chan error
	stop     func()
}

// Wait blocks until the context given to Start ends (then shuts down
// cleanly) or the API server fails.
func (s *Running) Wait() error {
	defer s.stop()
	select {
	case <-s.ctx.Done():
	case err := <-s.serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("API server stopped: %w", err)
		}
	}
	slog.Info("shutting down", "component", "server")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(shutdownCtx)
	return nil
}

// Start brings the control plane up and returns once it is ready.
func Start(ctx context.Context, cfg Config) (*Running, error) {
	log := slog.Default().With("component", "server")
	start := time.Now()
	serverDir := filepath.Join(cfg.DataDir, "server")
	if err := os.MkdirAll(serverDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", serverDir, err)
	}
	pki, err := auth.EnsurePKI(auth.PKIOptions{
		Dir:           filepath.Join(serverDir, "tls"),
		NodeName:      cfg.NodeName,
		NodeIPs:       uniqueIPs(cfg.NodeIP, cfg.AdvertiseAddress),
		ServiceIP:     firstServiceIP(cfg.ServiceCIDR),
		ClusterDomain: cfg.ClusterDomain,
		TLSSANs:       cfg.TLSSANs,
	})
	if err != nil {
		return nil, fmt.Errorf("preparing certificates: %w", err)
	}
	joinToken, err := ensureToken(serverDir, cfg.Token, pki.CAFile)
	if err != nil {
		return nil, err
	}
	token := joinToken.String()
	joiner, err := auth.NewNodeJoiner(pki, joinToken, auth.ClusterNetwork{
		ClusterCIDR: cidrString(cfg.ClusterCIDR), ServiceCIDR: cidrString(cfg.ServiceCIDR), ClusterDNS: ipString(cfg.ClusterDNS), ClusterDomain: cfg.ClusterDomain,
		Disabled: cfg.Disable,
	})
	if err != nil {
		return nil, err
	}
	saTokens, err := auth.NewServiceAccountTokens(pki.ServiceAccountKeyFile, auth.IssuerURL(cfg.ClusterDomain), nil)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := pki.ServingTLSConfig()
	if err != nil {
		return nil, err
	}
	// Listen before anything slow, so a busy port fails fast and clients
	// can poll /readyz while etcd starts.
	addr := net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HTTPSPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("port %d is already in use or cannot be bound on %s: %w", cfg.HTTPSPort, cfg.BindAddress, err)
	}

	client, closeStore, err := openDatastore(ctx, cfg, pki)
	if err != nil {
		ln.Close()
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			ln.Close()
			closeStore()
		}
	}()

	cache := storage.NewCache(client)
	api, err := apiserver.New(apiserver.Config{
		Client:            client,
		Cache:             cache,
		Resources:         registry.All(),
		AdvertiseHostPort: net.JoinHostPort(cfg.AdvertiseAddress.String(), strconv.Itoa(cfg.HTTPSPort)),
		Authenticate:      authenticate,
		TokenIssuer:       saTokens,
		Join:              joiner,
		SkipSAAdmission:   cfg.DisableServiceAccountAdmission,
		ServiceCIDR:       cfg.ServiceCIDR,
		NodePortBase:      cfg.NodePortRange.Base,
		NodePortSize:      cfg.NodePortRange.Size,
		Version:           versionInfo(),
		EventTTLSeconds:   3600,
		Kubelet:           apiserver.KubeletClientConfig{CAFile: pki.CAFile, CertFile: pki.KubeletClientCertFile, KeyFile: pki.KubeletClientKeyFile},
	})
	if err != nil {
		return nil, err
	}
	prepared := make(chan error, 1)
	go func() { prepared <- api.Prepare() }()
	if err := cache.Start(ctx); err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           api,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(slog.Default().With("component", "https").Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(tls.NewListener(ln, tlsConfig)) }()

	localURL := "https://" + net.JoinHostPort(loopbackFor(cfg.BindAddress), strconv.Itoa(cfg.HTTPSPort))
	loopback := &rest.Config{
		Host:            localURL,
		QPS:             -1,
		TLSClientConfig: rest.TLSClientConfig{CAFile: pki.CAFile, CertFile: pki.AdminCertFile, KeyFile: pki.AdminKeyFile},
	}
	if err := bootstrap(ctx, loopback, cfg); err != nil {
		srv.Close()
		return nil, fmt.Errorf("creating bootstrap objects: %w", err)
	}
	if cfg.WriteKubeconfig != "" {
		if err := auth.WriteKubeconfig(cfg.WriteKubeconfig, os.FileMode(cfg.WriteKubeconfigMode), localURL, pki); err != nil {
			srv.Close()
			return nil, fmt.Errorf("writing kubeconfig: %w", err)
		}
	}
	if !cfg.DisableControllerManager || !cfg.DisableScheduler {
		if err := startControlPlane(ctx, rest.CopyConfig(loopback), cfg); err != nil {
			srv.Close()
			return nil, fmt.Errorf("starting controllers: %w", err)
		}
	}
	api.SetReady()
	log.Info("kite server is ready", "address", addr, "kubeconfig", cfg.WriteKubeconfig, "startup", time.Since(start).Round(time.Millisecond))
	// Joining servers and agents need the token; it is also kept in
	// <data-dir>/server/token (mode 0600).
	log.Info("cluster token", "token", token, "file", filepath.Join(serverDir, "token"))
	go func() {
		if err := <-prepared; err != nil {
			log.Error("preparing the API server", "err", err)
		}
		// Startup leaves tens of megabytes of garbage (certificates,
		// schemas, bootstrap objects); hand it back to the OS now rather
		// than at the next periodic GC.
		debug.FreeOSMemory()
		releaseStartupCode()
	}()
	ok = true
	return &Running{PKI: pki, URL: localURL, Token: token, ctx: ctx, srv: srv, serveErr: serveErr, stop: closeStore}, nil
}

// openDatastore starts embedded etcd, or connects to --datastore-endpoint.
func openDatastore(ctx context.Context, cfg Config, pki *auth.PKI) (*clientv3.Client, func(), error) {
	if cfg.DatastoreEndpoint != "" {
		c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(cfg.DatastoreEndpoint, ","), DialTimeout: 5 * time.Second})
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to datastore %s: %w", cfg.DatastoreEndpoint, err)
		}
		return c, func() { c.Close() }, nil
	}
	ds, err := datastore.Start(ctx, datastore.Config{
		DataDir:        filepath.Join(cfg.DataDir, "server", "db"),
		ClientPort:     cfg.EtcdClientPort,
		PeerPort:       cfg.EtcdPeerPort,
		CAFile:         pki.EtcdCAFile,
		CertFile:       pki.EtcdServerCertFile,
		KeyFile:        pki.EtcdServerKeyFile,
		ClientCertFile: pki.EtcdClientCertFile,
		ClientKeyFile:  pki.EtcdClientKeyFile,
	})
	if err != nil {
		return nil, nil, err
	}
	// `kite etcdctl` reads where etcd listens from here.
	endpointFile := filepath.Join(cfg.DataDir, "server", "etcd-endpoint")
	if err := os.WriteFile(endpointFile, []byte(ds.Endpoints()[0]+"\n"), 0o600); err != nil {
		ds.Close()
		return nil, nil, fmt.Errorf("writing %s: %w", endpointFile, err)
	}
	return ds.Client(), func() {
		if err := ds.Close(); err != nil {
			slog.Warn("closing etcd", "component", "server", "err", err)
		}
	}, nil
}

// authenticate identifies callers by their client certificate.
func authenticate(r *http.Request) (user.Info, bool) {
	name, groups, ok := auth.UserFromRequest(r)
	if !ok {
		return nil, false
	}
	return &user.DefaultInfo{Name: name, Groups: groups}, true
}

func versionInfo() version.Info {
	v := strings.TrimPrefix(Version, "v")
	parts := strings.SplitN(v, ".", 3)
	info := version.Info{GitVersion: Version, GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH, GitTreeState: "clean"}
	if len(parts) >= 2 {
		info.Major, info.Minor = parts[0], parts[1]
	}
	return info
}

// ensureToken returns the cluster join token in its full form
// K10<ca-hash>::server:<secret> and stores it at <data-dir>/server/token.
// given (--token) may be the full form, which must pin this cluster's CA,
// or the bare secret; without it the stored token's secret is kept (a bare
// secret stored by an earlier kite included) or a new one is made.
func ensureToken(serverDir, given, caFile string) (joinprotocol.Token, error) {
	path := filepath.Join(serverDir, "token")
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return joinprotocol.Token{}, fmt.Errorf("reading the cluster CA: %w", err)
	}
	var token joinprotocol.Token
	switch data, readErr := os.ReadFile(path); {
	case given != "":
		if token, err = joinprotocol.ParseToken(strings.TrimSpace(given)); err != nil {
			return joinprotocol.Token{}, fmt.Errorf("--token: %w", err)
		}
	case readErr == nil && strings.TrimSpace(string(data)) != "":
		if token, err = joinprotocol.ParseToken(strings.TrimSpace(string(data))); err != nil {
			return joinprotocol.Token{}, fmt.Errorf("%s: %w", path, err)
		}
		// Only the secret is this cluster's own; the pin follows the CA.
		token.CAHash = ""
	default:
		secret, err := joinprotocol.NewSecret()
		if err != nil {
			return joinprotocol.Token{}, err
		}
		token = joinprotocol.Token{Secret: secret}
	}
	full, err := token.WithCA(caPEM)
	if err != nil {
		return joinprotocol.Token{}, fmt.Errorf("--token: %w", err)
	}
	if err := os.WriteFile(path, []byte(full.String()+"\n"), 0o600); err != nil {
		return joinprotocol.Token{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return full, nil
}

func cidrString(n *net.IPNet) string {
	if n == nil {
		return ""
	}
	return n.String()
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

func firstServiceIP(cidr *net.IPNet) net.IP {
	ip := make(net.IP, len(cidr.IP))
	copy(ip, cidr.IP)
	ip[len(ip)-1]++
	return ip
}

func uniqueIPs(ips ...net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		if ip == nil {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o.Equal(ip)
		}
		if !dup {
			out = append(out, ip)
		}
	}
	return out
}

func loopbackFor(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return bind
	}
	return "127.0.0.1"
}
