// Package nftables is kite's nftables data path for the Service proxy: it
// keeps one table of its own, "kite-proxy", in which verdict maps keyed by
// address, protocol and port send each packet to its service's chains, so
// a change rewrites only the map elements and chains of what changed. Each
// sync is one nf_tables transaction sent over netlink, so a small change
// costs little however big the table is (the nft program would first read
// every chain of it).
package nftables

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
)

// tableName is the table kite owns in the ip (or ip6) family; removing it
// removes everything the proxy ever wrote, and nothing else.
const tableName = "kite-proxy"

// Chains with fixed names. The per-service chains carry a prefix and the
// service port's name instead (see serviceChains).
const (
	// Base chains, one per hook the proxy needs.
	natPreroutingChain  = "nat-prerouting"
	natOutputChain      = "nat-output"
	natPostroutingChain = "nat-postrouting"
	filterPreroutingFW  = "filter-prerouting"
	filterOutputFW      = "filter-output-firewall"
	filterInputChain    = "filter-input"
	filterForwardChain  = "filter-forward"
	filterOutputChain   = "filter-output"

	servicesChain      = "services"
	masqueradingChain  = "masquerading"
	markMasqChain      = "mark-for-masquerade"
	firewallCheckChain = "firewall-check"
	clusterIPCheck     = "cluster-ip-check"
	externalCheck      = "external-check"
	rejectChain        = "reject-no-endpoints"
)

// Verdict maps. Their elements are the only thing a partial sync changes
// outside the changed service ports' own chains.
const (
	serviceIPsMap          = "service-ips"           // cluster, external and load-balancer IPs
	serviceNodePortsMap    = "service-nodeports"     // node ports on local addresses
	noEndpointServicesMap  = "no-endpoint-services"  // cluster IPs with nowhere to go
	noEndpointExternalMap  = "no-endpoint-external"  // external and load-balancer IPs with nowhere to go
	noEndpointNodePortsMap = "no-endpoint-nodeports" // node ports with nowhere to go
	firewallIPsMap         = "firewall-ips"          // load-balancer IPs with source ranges
)

// Endpoint slot maps send a balancing draw to an endpoint: each service
// port owns a block of slot numbers, one per endpoint, and its rule draws
// "numgen random mod n offset base" and translates to the slot's address
// and port. A moved endpoint is then one element, with no rule rewritten
// and no kernel revalidation of the table's jumps.
//
// The kernel checks every element added to a map against every rule
// using the map, so one map for 10,000 services took seconds to fill;
// slotMapShards maps, each service port's chosen by a hash of its name,
// keep both counts small.
const (
	slotMapPrefix = "endpoint-slots-"
	slotMapShards = 256
)

// slotMap is the endpoint slot map of service port n.
func slotMap(n netproxy.ServicePortName) string {
	h := fnv.New32a()
	h.Write([]byte(n.Namespace + "/" + n.Name + "/" + string(n.Protocol) + "/" + n.Port))
	return fmt.Sprintf("%s%02x", slotMapPrefix, h.Sum32()%slotMapShards)
}

// hairpinSet holds "endpoint . endpoint" for every endpoint address: a
// translated connection from an endpoint to itself is masqueraded.
const hairpinSet = "hairpin-endpoints"

// mapNames lists the fixed maps and sets whose elements syncs keep in
// step, in the order they are written; the endpoint slot maps follow.
var mapNames = []string{serviceIPsMap, serviceNodePortsMap, noEndpointServicesMap,
	noEndpointExternalMap, noEndpointNodePortsMap, firewallIPsMap, hairpinSet}

// Packet marks, the same bits the iptables backend uses: masqMark asks the
// masquerading chain to SNAT the packet.
const (
	masqMark    = "0x4000"
	masqMarkBit = 0x4000
)

// Prefixes of the per-service chains and sets.
const (
	servicePrefix  = "service-"  // all usable endpoints (Cluster policy)
	localPrefix    = "local-"    // endpoints on this node (Local policy)
	externalPrefix = "external-" // node ports, external and load-balancer IPs
	firewallPrefix = "firewall-" // load-balancer source ranges
	endpointPrefix = "endpoint-" // one endpoint
	affinityPrefix = "affinity-" // ClientIP affinity of one endpoint
)

// maxNameLen keeps chain and set names well inside nft's 256-byte limit.
const maxNameLen = 199

// nameBase is "HASH-namespace/name/protocol/port[__ip/port]": readable in
// `nft list table`, unique thanks to the hash of the whole key even when a
// long name has to be cut. Every part is made of [a-z0-9-], which nft
// accepts in unquoted names; IPv6 colons become dots.
func nameBase(prefix string, n netproxy.ServicePortName, ep *netproxy.Endpoint) string {
	key := n.Namespace + "/" + n.Name + "/" + strings.ToLower(string(n.Protocol)) + "/" + n.Port
	if ep != nil {
		key += "__" + strings.ReplaceAll(ep.IP.String(), ":", ".") + "/" + strconv.Itoa(int(ep.Port))
	}
	sum := sha256.Sum256([]byte(key))
	name := prefix + base32.StdEncoding.EncodeToString(sum[:])[:8] + "-" + key
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return name
}

func serviceChain(n netproxy.ServicePortName) string  { return nameBase(servicePrefix, n, nil) }
func localChain(n netproxy.ServicePortName) string    { return nameBase(localPrefix, n, nil) }
func externalChain(n netproxy.ServicePortName) string { return nameBase(externalPrefix, n, nil) }
func firewallChain(n netproxy.ServicePortName) string { return nameBase(firewallPrefix, n, nil) }

func endpointChain(n netproxy.ServicePortName, e netproxy.Endpoint) string {
	return nameBase(endpointPrefix, n, &e)
}

func affinitySet(n netproxy.ServicePortName, e netproxy.Endpoint) string {
	return nameBase(affinityPrefix, n, &e)
}

// family is the IP family one backend handles, with the nft words for it.
type family struct{ ipv6 bool }

func (f family) has(a netip.Addr) bool { return a.Is6() == f.ipv6 }

// table is the nft family keyword, which is also the one of the address
// match ("ip daddr", "ip6 daddr").
func (f family) table() string {
	if f.ipv6 {
		return "ip6"
	}
	return "ip"
}

func (f family) addrType() nftables.SetDatatype {
	if f.ipv6 {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}

// protoName is the nft protocol keyword: tcp, udp or sctp.
func protoName(p v1.Protocol) string { return strings.ToLower(string(p)) }
