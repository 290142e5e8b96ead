package dns

import (
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// nameKind classifies a name inside the cluster zone by the DNS schema.
type nameKind int

const (
	nameOutsideSchema nameKind = iota // no such name can exist: NXDOMAIN
	nameApex                          // <zone>
	nameDNSVersion                    // dns-version.<zone>
	nameDNSParent                     // dns.<zone>, parent of the name server name
	nameNameServer                    // ns.dns.<zone>
	nameTypeRoot                      // svc.<zone> or pod.<zone>
	nameNamespace                     // <ns>.svc.<zone> or <ns>.pod.<zone>
	nameService                       // <svc>.<ns>.svc.<zone>
	nameEndpoint                      // <endpoint>.<svc>.<ns>.svc.<zone>
	namePort                          // _<port>._<proto>.<svc>.<ns>.svc.<zone>
	namePod                           // <dashed-ip>.<ns>.pod.<zone>
)

// schemaName is a name inside the zone split into its schema parts. All
// parts are lower case; DNS names compare without regard to case.
type schemaName struct {
	kind      nameKind
	pod       bool
	namespace string
	service   string // or the dashed pod address
	endpoint  string
	port      string
	protocol  string
}

const (
	labelSvc = "svc"
	labelPod = "pod"
)

// parseSchemaName splits name, which must be inside zone (both fully
// qualified), into schema parts.
func parseSchemaName(name, zone string) schemaName {
	relative := strings.TrimSuffix(strings.ToLower(name), zone)
	labels := mdns.SplitDomainName(relative)
	n := len(labels)
	if n == 0 {
		return schemaName{kind: nameApex}
	}
	switch relative {
	case "dns-version.":
		return schemaName{kind: nameDNSVersion}
	case "dns.":
		return schemaName{kind: nameDNSParent}
	case "ns.dns.":
		return schemaName{kind: nameNameServer}
	}
	kind := labels[n-1]
	if kind != labelSvc && kind != labelPod {
		return schemaName{}
	}
	s := schemaName{pod: kind == labelPod}
	// Read labels right to left: namespace, then service (or pod), then the rest.
	switch n {
	case 1:
		s.kind = nameTypeRoot
	case 2:
		s.kind, s.namespace = nameNamespace, labels[0]
	case 3:
		s.kind, s.namespace, s.service = nameService, labels[1], labels[0]
		if s.pod {
			s.kind = namePod
		}
	case 4:
		s.kind, s.namespace, s.service, s.endpoint = nameEndpoint, labels[2], labels[1], labels[0]
	case 5:
		// Like CoreDNS, the leading underscores of _port._proto are optional.
		s.kind, s.namespace, s.service = namePort, labels[3], labels[2]
		s.port, s.protocol = strings.TrimPrefix(labels[0], "_"), strings.TrimPrefix(labels[1], "_")
	default:
		return schemaName{}
	}
	if s.pod && s.kind != nameTypeRoot && s.kind != nameNamespace && s.kind != namePod {
		return schemaName{}
	}
	return s
}

// endpointLabel is the first label of an endpoint's name: its hostname, or
// its address with dashes for dots (or colons).
func endpointLabel(a endpointAddress) string {
	if a.hostname != "" {
		return a.hostname
	}
	if a.ip.Is4() {
		return strings.ReplaceAll(a.ip.String(), ".", "-")
	}
	return strings.ReplaceAll(a.ip.String(), ":", "-")
}

// podAddress reads the address in a pod name such as 10-42-0-5 or
// fd00--5, as CoreDNS does: three dashes and no double dash is IPv4,
// anything else IPv6.
func podAddress(label string) (netip.Addr, bool) {
	var text string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		text = strings.ReplaceAll(label, "-", ".")
	} else {
		text = strings.ReplaceAll(label, "-", ":")
	}
	ip, err := netip.ParseAddr(text)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip, true
}

const (
	reverseV4Zone = "in-addr.arpa."
	reverseV6Zone = "ip6.arpa."
)

// isReverseName reports whether name is under in-addr.arpa or ip6.arpa.
func isReverseName(name string) bool {
	return mdns.IsSubDomain(reverseV4Zone, name) || mdns.IsSubDomain(reverseV6Zone, name)
}

// reverseAddress reads the full address out of a PTR query name, or reports
// false for names that do not name one address.
func reverseAddress(name string) (netip.Addr, bool) {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, "."+reverseV4Zone):
		labels := mdns.SplitDomainName(strings.TrimSuffix(lower, "."+reverseV4Zone))
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			v, err := strconv.ParseUint(l, 10, 8)
			if err != nil || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, false
			}
			b[3-i] = byte(v)
		}
		return netip.AddrFrom4(b), true
	case strings.HasSuffix(lower, "."+reverseV6Zone):
		labels := mdns.SplitDomainName(strings.TrimSuffix(lower, "."+reverseV6Zone))
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			v, err := strconv.ParseUint(l, 16, 4)
			if err != nil || len(l) != 1 {
				return netip.Addr{}, false
			}
			nibble := 31 - i
			if nibble%2 == 0 {
				b[nibble/2] |= byte(v) << 4
			} else {
				b[nibble/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
