package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kite/agent/cni"
	"kite/agent/join"
	"kite/agent/kubelet"
	"kite/agent/kubelet/node"
	kubeletserver "kite/agent/kubelet/server"
	"kite/agent/runtime"
)

// Run joins the cluster and runs this node until ctx ends. The slow steps
// that do not depend on each other (joining, starting containerd) run at
// the same time, since together they decide how soon the node is Ready.
func Run(ctx context.Context, cfg Config) error {
	log := slog.Default().With("component", "agent")
	start := time.Now()
	dir := cfg.agentDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if report := runtime.CheckPrerequisites(cfg.ContainerRuntimeEndpoint == ""); !report.OK() {
		return report.Err()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type joined struct {
		creds *join.Credentials
		err   error
	}
	joinDone := make(chan joined, 1)
	go func() {
		creds, err := join.Join(ctx, join.Options{
			ServerURL: cfg.ServerURL,
			Token:     cfg.Token,
			NodeName:  cfg.NodeName,
			NodeIPs:   []net.IP{cfg.NodeIP},
			Hostnames: hostnames(cfg.NodeName),
			Dir:       dir,
		})
		joinDone <- joined{creds, err}
	}()

	rt, err := runtime.Start(ctx, runtime.Config{
		DataDir:        cfg.DataDir,
		Endpoint:       cfg.ContainerRuntimeEndpoint,
		RegistriesFile: cfg.PrivateRegistry,
		CNIConfDir:     cniConfDir(dir),
		CNIBinDirs:     cni.PluginDirs,
	})
	if err != nil {
		return fmt.Errorf("starting the container runtime: %w", err)
	}
	j := <-joinDone
	if j.err != nil {
		return j.err
	}
	creds := j.creds
	log.Info("joined the cluster", "server", cfg.ServerURL, "node", cfg.NodeName, "after", time.Since(start).Round(time.Millisecond))

	// The node's client-side rate limit is upstream kubelet's
	// (--kube-api-qps 50, --kube-api-burst 100). client-go's own default
	// (5/s) would queue every pod start behind its events and status
	// writes.
	restConfig := rest.CopyConfig(creds.RestConfig)
	restConfig.QPS, restConfig.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("building the node's API client: %w", err)
	}

	g, ctx := errgroup.WithContext(ctx)
	registrar := node.New(node.Config{
		NodeName:     cfg.NodeName,
		Client:       client,
		NodeIPs:      []net.IP{cfg.NodeIP},
		Hostname:     cfg.NodeName,
		Labels:       cfg.NodeLabels,
		Taints:       cfg.NodeTaints,
		ControlPlane: cfg.ControlPlane,
		KubeletPort:  cfg.KubeletPort,
		Runtime:      rt.RuntimeService(),
		Images:       rt.ImageService(),
		DataDir:      dir,
		Eviction:     cfg.Eviction,
	})
	g.Go(func() error { return registrar.Run(ctx) })

	kl, err := kubelet.New(kubelet.Config{
		NodeName:      cfg.NodeName,
		Client:        client,
		Runtime:       rt.RuntimeService(),
		Images:        rt.ImageService(),
		DataDir:       dir,
		PodLogsDir:    podLogsDir,
		StaticPodsDir: filepath.Join(dir, "pod-manifests"),
		ClusterDNS:    []string{creds.ClusterDNS},
		ClusterDomain: creds.ClusterDomain,
		RegistryAuth:  rt.RegistryAuth,

		ImageGCHighThresholdPercent: cfg.ImageGCHighThresholdPercent,
		ImageGCLowThresholdPercent:  cfg.ImageGCLowThresholdPercent,
	})
	if err != nil {
		return err
	}

	api, err := kubeletserver.New(kubeletserver.Config{
		Port:       cfg.KubeletPort,
		CertFile:   creds.ServingCert,
		KeyFile:    creds.ServingKey,
		ClientCA:   creds.ServerCA,
		Runtime:    rt.RuntimeService(),
		PodLogsDir: podLogsDir,
		Pods:       kl.Pods,
	})
	if err != nil {
		return err
	}
	g.Go(func() error { return api.Run(ctx) })

	// The pod network needs the node's pod CIDR, which the server assigns
	// once the Node exists.
	g.Go(func() error {
		podCIDR, err := registrar.WaitForPodCIDR(ctx)
		if err != nil {
			return err
		}
		masquerade, err := cni.NewMasquerade(creds.ClusterCIDR)
		if err != nil {
			return err
		}
		if err := masquerade.Setup(); err != nil {
			return fmt.Errorf("setting up pod masquerading: %w", err)
		}
		routes, err := cni.NewRoutes(cni.RoutesConfig{Client: client, NodeName: cfg.NodeName})
		if err != nil {
			return err
		}
		defer routes.Close()
		// The conflist goes last: its appearance is what tells containerd
		// (and so the node's Ready condition) that pods can be networked.
		if err := cni.WriteConfig(cniConfDir(dir), cni.Config{
			PodCIDR:          podCIDR,
			ClusterCIDR:      creds.ClusterCIDR,
			NodeIP:           cfg.NodeIP,
			HostLocalDataDir: filepath.Join(dir, "cni", "networks"),
		}); err != nil {
			return fmt.Errorf("writing the pod network config: %w", err)
		}
		log.Info("pod network ready", "pod-cidr", podCIDR, "after", time.Since(start).Round(time.Millisecond))
		return routes.Run(ctx)
	})
	g.Go(func() error { return kl.Run(ctx) })
	dnsLocal := !slices.Contains(creds.Disabled, "dns")
	if dnsLocal {
		g.Go(func() error { return runDNS(ctx, client, creds) })
	}
	g.Go(func() error { return runProxy(ctx, client, cfg, creds, dnsLocal) })
	if !slices.Contains(creds.Disabled, "ingress") {
		g.Go(func() error { return runIngress(ctx, client, cfg.NodeName) })
	}
	g.Go(func() error {
		<-rt.Done()
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("the container runtime stopped")
	})
	err = g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func cniConfDir(agentDir string) string { return filepath.Join(agentDir, "etc", "cni", "net.d") }

// hostnames are the names the kubelet's serving certificate carries: the
// node name, and the host name when it differs.
func hostnames(nodeName string) []string {
	names := []string{nodeName}
	if h, err := os.Hostname(); err == nil && h != nodeName {
		names = append(names, h)
	}
	return names
}
