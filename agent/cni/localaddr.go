package cni

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LocalAddressLink holds the addresses every node answers on itself, such
// as the cluster DNS address: a bridge with no ports, since this kernel
// has no dummy device (see MACHINE-NOTES). Its addresses are local ones,
// so pods reach them through their default route to the node.
const LocalAddressLink = "kite-local"

// HoldLocalAddresses makes each IP a local address of this node, a /32 (or
// /128) on LocalAddressLink, creating the link when it is missing.
func HoldLocalAddresses(ips ...net.IP) error {
	link, err := netlink.LinkByName(LocalAddressLink)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = LocalAddressLink
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("creating %s: %w", LocalAddressLink, err)
		}
		link, err = netlink.LinkByName(LocalAddressLink)
	}
	if err != nil {
		return fmt.Errorf("finding %s: %w", LocalAddressLink, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing %s up: %w", LocalAddressLink, err)
	}
	for _, ip := range ips {
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}}
		if err := netlink.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("adding %s to %s: %w", ip, LocalAddressLink, err)
		}
	}
	return nil
}
