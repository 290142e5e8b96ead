package main

import (
	"fmt"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"kite/server"
)

// checkNetworkOptions validates ports, listen address, the pod and Service
// ranges and cluster DNS, which must fit together: a wrong combination
// only shows up much later as pods that cannot resolve or reach Services.
func checkNetworkOptions(o *serverOptions, cfg *server.Config) error {
	for _, p := range []struct {
		flag string
		port int
	}{
		{"--https-listen-port", o.httpsPort},
		{"--etcd-client-port", o.etcdClientPort},
		{"--etcd-peer-port", o.etcdPeerPort},
	} {
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("%s %d is not a valid port (1-65535)", p.flag, p.port)
		}
	}
	if o.datastoreEndpoint == "" {
		// Embedded etcd listens next to the API server.
		switch {
		case o.etcdClientPort == o.httpsPort:
			return fmt.Errorf("--etcd-client-port %d is the same as --https-listen-port", o.etcdClientPort)
		case o.etcdPeerPort == o.httpsPort:
			return fmt.Errorf("--etcd-peer-port %d is the same as --https-listen-port", o.etcdPeerPort)
		case o.etcdPeerPort == o.etcdClientPort:
			return fmt.Errorf("--etcd-peer-port %d is the same as --etcd-client-port", o.etcdPeerPort)
		}
	}
	cfg.HTTPSPort = o.httpsPort
	cfg.EtcdClientPort = o.etcdClientPort
	cfg.EtcdPeerPort = o.etcdPeerPort

	bind := net.ParseIP(o.bindAddress)
	if bind == nil {
		return fmt.Errorf("--bind-address %q is not an IP address", o.bindAddress)
	}
	cfg.BindAddress = bind.String()

	clusterCIDR, err := parseCIDR("--cluster-cidr", o.clusterCIDR)
	if err != nil {
		return err
	}
	serviceCIDR, err := parseCIDR("--service-cidr", o.serviceCIDR)
	if err != nil {
		return err
	}
	if err := checkCIDRs(clusterCIDR, serviceCIDR); err != nil {
		return err
	}
	cfg.ClusterCIDR, cfg.ServiceCIDR = clusterCIDR, serviceCIDR

	if cfg.ClusterDNS, err = clusterDNS(o.clusterDNS, serviceCIDR); err != nil {
		return err
	}

	domain := strings.TrimSuffix(o.clusterDomain, ".")
	if len(validation.IsDNS1123Subdomain(domain)) > 0 {
		return fmt.Errorf("--cluster-domain %q is not a DNS domain such as cluster.local", o.clusterDomain)
	}
	cfg.ClusterDomain = domain

	if cfg.NodePortRange, err = parsePortRange(o.nodePortRange); err != nil {
		return err
	}
	if cfg.NodePortRange.Contains(o.httpsPort) {
		return fmt.Errorf("--https-listen-port %d lies inside --service-node-port-range %s", o.httpsPort, o.nodePortRange)
	}
	return nil
}

func parseCIDR(flag, s string) (*net.IPNet, error) {
	_, ipnet, err := net.ParseCIDR(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a valid CIDR", flag, s)
	}
	return ipnet, nil
}

// checkCIDRs enforces what the rest of kite relies on: one address family,
// a /24 per node out of the pod range, a Service range the allocator can
// handle, and no overlap (a pod IP that is also a ClusterIP is unroutable).
func checkCIDRs(cluster, service *net.IPNet) error {
	if (cluster.IP.To4() == nil) != (service.IP.To4() == nil) {
		return fmt.Errorf("--cluster-cidr %s and --service-cidr %s must be the same IP family", cluster, service)
	}
	if ones, bits := cluster.Mask.Size(); bits == 32 && ones > 24 {
		return fmt.Errorf("--cluster-cidr %s is too small: each node gets a /24 from it, so use /24 or larger (e.g. /16)", cluster)
	}
	ones, bits := service.Mask.Size()
	if bits-ones > 20 {
		// kube-apiserver's limit: the allocator keeps one bit per address.
		return fmt.Errorf("--service-cidr %s is too large: use /%d or smaller", service, bits-20)
	}
	if bits-ones < 2 {
		return fmt.Errorf("--service-cidr %s is too small to hold the kubernetes and DNS Services", service)
	}
	if cluster.Contains(service.IP) || service.Contains(cluster.IP) {
		return fmt.Errorf("--cluster-cidr %s overlaps --service-cidr %s", cluster, service)
	}
	return nil
}

// clusterDNS returns the cluster DNS address: the given one, checked, or the
// 10th address of the Service range (10.43.0.10 for the default range), as
// k3s derives it, so changing only --service-cidr keeps a working setup.
func clusterDNS(s string, service *net.IPNet) (net.IP, error) {
	if s == "" {
		return nthAddress(service, 10), nil
	}
	ip := net.ParseIP(strings.TrimSpace(s))
	if ip == nil {
		return nil, fmt.Errorf("--cluster-dns %q is not an IP address", s)
	}
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	switch {
	case !service.Contains(ip):
		return nil, fmt.Errorf("--cluster-dns %s is outside --service-cidr %s", ip, service)
	case ip.Equal(service.IP):
		return nil, fmt.Errorf("--cluster-dns %s is the network address of --service-cidr %s; use e.g. %s", ip, service, nthAddress(service, 10))
	case ip.Equal(nthAddress(service, 1)):
		return nil, fmt.Errorf("--cluster-dns %s is the kubernetes Service's address (first in --service-cidr); use e.g. %s", ip, nthAddress(service, 10))
	}
	return ip, nil
}

// nthAddress is the address n past the network address of ipnet; in a
// range too small for that it falls back to the second host address, which
// checkCIDRs guarantees exists.
func nthAddress(ipnet *net.IPNet, n int64) net.IP {
	ones, bits := ipnet.Mask.Size()
	if size := new(big.Int).Lsh(big.NewInt(1), uint(bits-ones)); big.NewInt(n).Cmp(size) >= 0 {
		n = 2
	}
	base := new(big.Int).SetBytes(ipnet.IP)
	sum := new(big.Int).Add(base, big.NewInt(n)).Bytes()
	ip := make(net.IP, len(ipnet.IP))
	copy(ip[len(ip)-len(sum):], sum)
	return ip
}

var portRangePattern = regexp.MustCompile(`^(\d+)-(\d+)$`)

func parsePortRange(s string) (server.PortRange, error) {
	bad := fmt.Errorf("--service-node-port-range %q is not a port range such as 30000-32767", s)
	m := portRangePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return server.PortRange{}, bad
	}
	first, err1 := strconv.Atoi(m[1])
	last, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return server.PortRange{}, fmt.Errorf("%w (ports 1-65535, first <= last)", bad)
	}
	return server.PortRange{Base: first, Size: last - first + 1}, nil
}
