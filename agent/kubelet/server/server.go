// Package server is the kubelet's HTTPS API on port 10250: health, the
// node's pods, container logs, and exec, attach and port-forward streams
// proxied to the container runtime. Callers authenticate with client
// certificates from the cluster CA; only administrators and the API
// server's kubelet client are admitted.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	internalapi "k8s.io/cri-api/pkg/apis"
)

// Config is what the kubelet API serves from.
type Config struct {
	// BindAddress is the address to listen on; empty means every address.
	BindAddress string
	Port        int
	// CertFile and KeyFile are the kubelet's serving certificate, signed by
	// the cluster CA; ClientCA is the CA PEM client certificates must chain to.
	CertFile, KeyFile string
	ClientCA          string
	// Runtime answers exec, attach and port-forward and tells whether a
	// followed container still runs; without it only logs are served.
	Runtime internalapi.RuntimeService
	// PodLogsDir holds the container logs (/var/log/pods).
	PodLogsDir string
	// Pods returns the pods this node runs, with their latest status.
	Pods func() []*corev1.Pod
}

// Server is the kubelet API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tls     *tls.Config
	handler http.Handler
}

// New loads the certificates and builds the handler.
func New(cfg Config) (*Server, error) {
	if cfg.Port == 0 {
		cfg.Port = 10250
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the kubelet serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("reading the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate found in %s", cfg.ClientCA)
	}
	s := &Server{cfg: cfg, log: slog.Default().With("component", "kubelet-server")}
	s.tls = &tls.Config{
		Certificates: []tls.Certificate{cert},
		// Verified when given; /healthz needs none, every other path
		// refuses anonymous callers.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  pool,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}
	s.handler = withAuth(s.routes())
	return s, nil
}

// Handler is the authenticated kubelet API, for callers that serve it
// themselves (with the TLS config from TLSConfig).
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig is the server's TLS configuration.
func (s *Server) TLSConfig() *tls.Config { return s.tls.Clone() }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	addr := net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kubelet API cannot listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil {
				srv.Close()
			}
		case <-done:
		}
	}()
	defer close(done)
	s.log.Info("kubelet API listening", "address", ln.Addr().String())
	err := srv.Serve(tls.NewListener(ln, s.tls))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("kubelet API: %w", err)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /pods", s.servePods)
	mux.HandleFunc("GET /pods/", s.servePods)
	mux.HandleFunc("GET /containerLogs/", s.serveContainerLogs)
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /exec/", s.requireRuntime(s.serveExec))
		mux.HandleFunc(m+" /attach/", s.requireRuntime(s.serveAttach))
		mux.HandleFunc(m+" /portForward/", s.requireRuntime(s.servePortForward))
	}
	return mux
}

func (s *Server) requireRuntime(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Runtime == nil {
			http.Error(w, "this kubelet has no container runtime", http.StatusServiceUnavailable)
			return
		}
		h(w, r)
	}
}

// servePods answers /pods with the node's pods as a v1 PodList.
func (s *Server) servePods(w http.ResponseWriter, _ *http.Request) {
	list := corev1.PodList{}
	list.Kind, list.APIVersion = "PodList", "v1"
	list.Items = []corev1.Pod{}
	if s.cfg.Pods != nil {
		for _, p := range s.cfg.Pods() {
			list.Items = append(list.Items, *p)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&list); err != nil {
		s.log.Warn("writing /pods", "err", err)
	}
}

// findPod returns the pod named ns/name among the kubelet's pods.
func (s *Server) findPod(ns, name string) *corev1.Pod {
	if s.cfg.Pods == nil {
		return nil
	}
	for _, p := range s.cfg.Pods() {
		if p.Namespace == ns && p.Name == name {
			return p
		}
	}
	return nil
}
