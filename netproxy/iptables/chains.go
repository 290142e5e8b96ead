// Package iptables is kite's iptables data path for the Service proxy: it
// renders a netproxy.State into iptables-restore input and applies it with
// one `iptables-restore --noflush` call per sync.
package iptables

import (
	"crypto/sha256"
	"encoding/base32"
	"regexp"

	"kite/netproxy"
)

// Chains kite's proxy owns. The names differ from agent/cni's
// KITE-POSTROUTING and KITE-FORWARD, which carry pod masquerading.
const (
	// nat table
	servicesChain    = "KITE-SERVICES"  // every service portal; also in filter
	nodePortsChain   = "KITE-NODEPORTS" // node ports, reached for local destinations
	postroutingChain = "KITE-PROXY-POSTROUTING"
	// filter table
	externalServicesChain = "KITE-EXTERNAL-SERVICES"
	forwardChain          = "KITE-PROXY-FORWARD"
	firewallChain         = "KITE-PROXY-FIREWALL"
)

// Packet marks: masqMark asks KITE-PROXY-POSTROUTING to masquerade,
// dropMark asks KITE-PROXY-FIREWALL to drop (the nat table cannot DROP).
const (
	masqMark = "0x4000"
	dropMark = "0x8000"
)

// Prefixes of the per-service chains; each is followed by a 16-character
// hash so names stay under iptables' 28-character limit.
const (
	svcPrefix = "KITE-SVC-" // all usable endpoints
	svlPrefix = "KITE-SVL-" // the endpoints on this node
	extPrefix = "KITE-EXT-" // traffic from outside: node ports, external and load-balancer IPs
	fwPrefix  = "KITE-FW-"  // load-balancer source ranges
	sepPrefix = "KITE-SEP-" // one endpoint of a service port with session affinity
)

// serviceChainPattern recognises per-service chains, so stale ones left by
// an earlier run can be found and removed.
var serviceChainPattern = regexp.MustCompile(`^KITE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}$`)

func hashName(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:16]
}

func serviceKey(n netproxy.ServicePortName) string {
	return n.String() + "/" + string(n.Protocol)
}

func svcChain(n netproxy.ServicePortName) string { return hashName(svcPrefix, serviceKey(n)) }
func svlChain(n netproxy.ServicePortName) string { return hashName(svlPrefix, serviceKey(n)) }
func extChain(n netproxy.ServicePortName) string { return hashName(extPrefix, serviceKey(n)) }
func fwChain(n netproxy.ServicePortName) string  { return hashName(fwPrefix, serviceKey(n)) }

func sepChain(n netproxy.ServicePortName, e netproxy.Endpoint) string {
	return hashName(sepPrefix, serviceKey(n)+"/"+e.String())
}
