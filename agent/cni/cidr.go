package cni

import (
	"fmt"
	"net"
)

// parseIPv4or6CIDR parses a network in CIDR form and insists that it is
// the network address itself ("10.42.1.0/24", not "10.42.1.7/24"), as
// node.spec.podCIDR always is.
func parseIPv4or6CIDR(what, s string) (*net.IPNet, error) {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a CIDR: %w", what, s, err)
	}
	if !ip.Equal(n.IP) {
		return nil, fmt.Errorf("%s %q has host bits set (the network is %s)", what, s, n)
	}
	if ip4 := n.IP.To4(); ip4 != nil {
		n.IP = ip4
	}
	return n, nil
}

// cidrContains reports whether inner lies entirely inside outer.
func cidrContains(outer, inner *net.IPNet) bool {
	outerOnes, outerBits := outer.Mask.Size()
	innerOnes, innerBits := inner.Mask.Size()
	return outerBits == innerBits && innerOnes >= outerOnes && outer.Contains(inner.IP)
}

// firstHost returns the network's first address after the network address,
// the bridge's gateway address by convention (10.42.1.0/24 -> 10.42.1.1).
func firstHost(n *net.IPNet) (net.IP, error) {
	ones, bits := n.Mask.Size()
	if bits-ones < 2 {
		return nil, fmt.Errorf("network %s is too small for a gateway and pods", n)
	}
	ip := make(net.IP, len(n.IP))
	copy(ip, n.IP)
	ip[len(ip)-1]++
	return ip, nil
}

// isIPv4 reports whether ip is an IPv4 address (in either encoding).
func isIPv4(ip net.IP) bool { return ip.To4() != nil }
