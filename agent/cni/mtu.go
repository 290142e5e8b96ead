package cni

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// NodeMTU returns the MTU of the node's network interface: the one holding
// nodeIP when given, else the one carrying the default route. Pod
// interfaces use it so pod packets fit the wire between nodes.
func NodeMTU(nodeIP net.IP) (int, error) {
	if nodeIP != nil {
		ifaces, err := net.Interfaces()
		if err != nil {
			return 0, fmt.Errorf("list interfaces: %w", err)
		}
		for _, iface := range ifaces {
			addrs, err := iface.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(nodeIP) {
					return iface.MTU, nil
				}
			}
		}
	}
	family := netlink.FAMILY_V4
	if nodeIP != nil && !isIPv4(nodeIP) {
		family = netlink.FAMILY_V6
	}
	routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: 254}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return 0, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && !isDefaultRoute(r.Dst) {
			continue
		}
		index := r.LinkIndex
		if index == 0 && len(r.MultiPath) > 0 {
			index = r.MultiPath[0].LinkIndex
		}
		link, err := netlink.LinkByIndex(index)
		if err != nil {
			return 0, fmt.Errorf("default route's interface %d: %w", index, err)
		}
		return link.Attrs().MTU, nil
	}
	return 0, errors.New("no interface holds the node IP and there is no default route")
}

// isDefaultRoute reports whether dst is 0.0.0.0/0 or ::/0 (newer netlink
// versions report the default route with such a Dst instead of nil).
func isDefaultRoute(dst *net.IPNet) bool {
	ones, _ := dst.Mask.Size()
	return ones == 0 && dst.IP.IsUnspecified()
}
