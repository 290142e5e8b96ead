package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"k8s.io/client-go/kubernetes"

	"kite/agent/join"
	"kite/netproxy"
	"kite/netproxy/iptables"
	"kite/netproxy/nftables"
)

// Proxy modes, as kube-proxy's --proxy-mode names them.
const (
	ProxyModeIPTables = "iptables"
	ProxyModeNFTables = "nftables"
)

// ProxyModes lists the modes --proxy-mode accepts, the default first.
var ProxyModes = []string{ProxyModeIPTables, ProxyModeNFTables}

// newProxyBackend builds the data path for mode.
func newProxyBackend(mode string, log *slog.Logger) (netproxy.Backend, error) {
	switch mode {
	case ProxyModeIPTables:
		return iptables.New(iptables.Config{Logger: log})
	case ProxyModeNFTables:
		return nftables.New(nftables.Config{Logger: log})
	default:
		return nil, fmt.Errorf("unknown proxy mode %q", mode)
	}
}

// CleanupProxy removes the rules of every proxy mode whose tools this host
// has, as `kite cleanup` and a change of --proxy-mode need: rules of the
// mode not in use would otherwise keep answering for Services.
func CleanupProxy(except string, log *slog.Logger) error {
	var errs []error
	for _, mode := range ProxyModes {
		if mode == except {
			continue
		}
		backend, err := newProxyBackend(mode, log)
		if err != nil {
			// Without the mode's tools there can be no rules of it.
			log.Debug("service proxy mode unavailable; nothing to clean", "mode", mode, "err", err)
			continue
		}
		if err := backend.Cleanup(); err != nil {
			errs = append(errs, fmt.Errorf("removing %s service rules: %w", mode, err))
		}
	}
	return errors.Join(errs...)
}

// runProxy keeps this node's Service rules in step with the cluster. The
// cluster DNS address is left alone: each node answers it itself.
func runProxy(ctx context.Context, client kubernetes.Interface, cfg Config, creds *join.Credentials, dnsLocal bool) error {
	log := slog.Default()
	mode := cmp.Or(cfg.ProxyMode, ProxyModeIPTables)
	backend, err := newProxyBackend(mode, log)
	if err != nil {
		return fmt.Errorf("service proxy: %w", err)
	}
	if err := CleanupProxy(mode, log); err != nil {
		log.Warn("removing the rules of the other proxy modes", "err", err)
	}
	_, clusterCIDR, err := net.ParseCIDR(creds.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("service proxy: the server's cluster CIDR %q: %w", creds.ClusterCIDR, err)
	}
	var local []net.IP
	if dnsLocal {
		local = append(local, net.ParseIP(creds.ClusterDNS))
	}
	proxy, err := netproxy.New(netproxy.Config{
		Client:          client,
		NodeName:        cfg.NodeName,
		NodeIPs:         []net.IP{cfg.NodeIP},
		ClusterCIDRs:    []*net.IPNet{clusterCIDR},
		LocalServiceIPs: local,
		Logger:          log,
	}, backend)
	if err != nil {
		return fmt.Errorf("service proxy: %w", err)
	}
	return proxy.Run(ctx)
}
