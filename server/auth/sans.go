package auth

import (
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// sanSet is the subject alternative names a certificate must carry, kept
// de-duplicated so that issued certificates stay small and comparable.
type sanSet struct {
	dns []string
	ips []net.IP
}

// add parses v as an IP address if it is one and as a DNS name otherwise,
// because --tls-san accepts both in one list, as in k3s.
func (s *sanSet) add(v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if ip := net.ParseIP(strings.Trim(v, "[]")); ip != nil {
		s.addIP(ip)
		return nil
	}
	name := strings.ToLower(v)
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		if werrs := validation.IsWildcardDNS1123Subdomain(name); len(werrs) > 0 {
			return fmt.Errorf("%q is neither an IP address nor a DNS name: %s", v, strings.Join(errs, "; "))
		}
	}
	if !slices.Contains(s.dns, name) {
		s.dns = append(s.dns, name)
	}
	return nil
}

// addIP adds ip unless an equal address (IPv4 in either length) is present.
func (s *sanSet) addIP(ip net.IP) {
	if ip == nil {
		return
	}
	for _, have := range s.ips {
		if have.Equal(ip) {
			return
		}
	}
	s.ips = append(s.ips, ip)
}

// coveredBy reports whether cert already names every wanted SAN. Extra names
// in the certificate are fine: dropping a --tls-san must not force a
// re-issue that could break a client still using the old name.
func (s sanSet) coveredBy(cert *x509.Certificate) bool {
	for _, name := range s.dns {
		if !slices.ContainsFunc(cert.DNSNames, func(have string) bool { return strings.EqualFold(have, name) }) {
			return false
		}
	}
	for _, ip := range s.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// loopbackSANs are on every serving certificate so local clients
// (kubectl on the node, etcdctl, health checks) can verify the server.
func loopbackSANs() sanSet {
	return sanSet{
		dns: []string{"localhost"},
		ips: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
}

// apiServerSANs is every name the API server is reached by: loopback, the
// node itself, the in-cluster `kubernetes` Service by each of its DNS forms
// and its ClusterIP, and whatever the user added with --tls-san.
func apiServerSANs(opts PKIOptions) (sanSet, error) {
	s := loopbackSANs()
	for _, ip := range opts.NodeIPs {
		s.addIP(ip)
	}
	if err := s.add(opts.NodeName); err != nil {
		return sanSet{}, fmt.Errorf("node name: %w", err)
	}
	for _, name := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc"} {
		_ = s.add(name) // constant, valid names
	}
	if opts.ClusterDomain != "" {
		if err := s.add("kubernetes.default.svc." + strings.TrimSuffix(opts.ClusterDomain, ".")); err != nil {
			return sanSet{}, fmt.Errorf("cluster domain: %w", err)
		}
	}
	s.addIP(opts.ServiceIP)
	for _, san := range opts.TLSSANs {
		if err := s.add(san); err != nil {
			return sanSet{}, fmt.Errorf("--tls-san: %w", err)
		}
	}
	return s, nil
}

// etcdServerSANs is what etcd peers and clients dial: loopback and the
// node's own addresses. etcd also checks a peer's client certificate against
// the peer's source IP, which is why the node IPs must be here.
func etcdServerSANs(opts PKIOptions) (sanSet, error) {
	s := loopbackSANs()
	for _, ip := range opts.NodeIPs {
		s.addIP(ip)
	}
	if err := s.add(opts.NodeName); err != nil {
		return sanSet{}, fmt.Errorf("node name: %w", err)
	}
	return s, nil
}
