package dns

import (
	"fmt"
	"net/netip"
	"slices"

	mdns "github.com/miekg/dns"
)

// defaultResolvConf is where the host's resolvers are read from.
const defaultResolvConf = "/etc/resolv.conf"

// readUpstreams returns the nameservers of a resolv.conf file as host:port
// addresses. Loopback nameservers (such as systemd-resolved's 127.0.0.53)
// are skipped unless keepLoopback, following the k3s and CoreDNS rule that a
// cluster resolver must not hand queries to a loopback stub (seen from a pod
// it is the pod itself; here it may be this very server). Addresses in self,
// where this server listens, are skipped to avoid forwarding loops.
func readUpstreams(path string, port uint16, keepLoopback bool, self []netip.AddrPort) ([]string, error) {
	conf, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolvers from %s: %w", path, err)
	}
	var out []string
	for _, s := range conf.Servers {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		bare := ip.WithZone("").Unmap()
		if (bare.IsLoopback() && !keepLoopback) || slices.Contains(self, netip.AddrPortFrom(bare, port)) {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip, port).String())
	}
	return out, nil
}
