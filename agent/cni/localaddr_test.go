package cni

import (
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestHoldLocalAddresses checks that an address held on the local-address
// link takes UDP and TCP listeners and is reached from the namespace
// itself, and that holding it again changes nothing.
func TestHoldLocalAddresses(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t)
	dnsIP := net.ParseIP("10.43.0.10")
	err := inNetns(t, ns, func() error {
		// A host's loopback is up; a new namespace's is not, and local
		// delivery goes through it.
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		for range 2 {
			if err := HoldLocalAddresses(dnsIP); err != nil {
				return err
			}
		}
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: dnsIP, Port: 5353})
		if err != nil {
			return err
		}
		defer udp.Close()
		c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: dnsIP, Port: 5353})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 16)
		if err := udp.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			return err
		}
		n, _, err := udp.ReadFromUDP(buf)
		if err != nil || string(buf[:n]) != "ping" {
			t.Errorf("UDP to the held address: %q, %v", buf[:n], err)
		}
		tcp, err := net.Listen("tcp", net.JoinHostPort(dnsIP.String(), "53"))
		if err != nil {
			return err
		}
		return tcp.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
