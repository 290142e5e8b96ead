package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
)

// hostInfo is what the server defaults need from the machine; tests
// substitute a fixed one.
type hostInfo interface {
	Hostname() (string, error)
	DefaultIP() net.IP // nil when the machine has no usable address
}

type systemHost struct{}

func (systemHost) Hostname() (string, error) { return os.Hostname() }

// DefaultIP picks the node's address the way a user would: the IPv4
// address of the interface that carries the default route, else the first
// non-loopback IPv4 address, else nil. Loopback is never a fallback: pods
// cannot reach the host's 127.0.0.1 and the kubernetes Service's endpoints
// may not be loopback, so a server on it could never work.
func (systemHost) DefaultIP() net.IP {
	if f, err := os.Open("/proc/net/route"); err == nil {
		iface := defaultRouteInterface(f)
		f.Close()
		if ip := interfaceIPv4(iface); ip != nil {
			return ip
		}
	}
	return firstNonLoopbackIPv4()
}

// defaultRouteInterface returns the interface of the IPv4 default route
// from /proc/net/route, or "". Reading the table, rather than dialing out
// to learn the source address, keeps this free of network traffic.
func defaultRouteInterface(r io.Reader) string {
	scanner := bufio.NewScanner(r)
	scanner.Scan() // header line
	for scanner.Scan() {
		// Iface Destination Gateway Flags ... Mask ...
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			return fields[0]
		}
	}
	return ""
}

func interfaceIPv4(name string) net.IP {
	if name == "" {
		return nil
	}
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return nil
	}
	return firstIPv4(addrs)
}

func firstNonLoopbackIPv4() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	return firstIPv4(addrs)
}

func firstIPv4(addrs []net.Addr) net.IP {
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipnet.IP.To4()
		if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		return ip
	}
	return nil
}
