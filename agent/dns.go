package agent

import (
	"context"
	"fmt"
	"net"

	"k8s.io/client-go/kubernetes"

	"kite/agent/cni"
	"kite/agent/join"
	"kite/dns"
)

// runDNS serves cluster DNS on the cluster DNS address, which every node
// holds itself: each node answers its own pods, with no DNS pods and no
// Service proxying in between.
func runDNS(ctx context.Context, client kubernetes.Interface, creds *join.Credentials) error {
	ip := net.ParseIP(creds.ClusterDNS)
	if ip == nil {
		return fmt.Errorf("the server gave no cluster DNS address (%q)", creds.ClusterDNS)
	}
	if err := cni.HoldLocalAddresses(ip); err != nil {
		return fmt.Errorf("holding the cluster DNS address: %w", err)
	}
	server, err := dns.New(dns.Config{
		Client:        client,
		ClusterDomain: creds.ClusterDomain,
		ListenAddrs:   []string{net.JoinHostPort(ip.String(), "53")},
	})
	if err != nil {
		return fmt.Errorf("starting cluster DNS: %w", err)
	}
	return server.Run(ctx)
}
