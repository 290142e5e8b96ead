// Package netproxy is kite's Service proxy model: it watches Services,
// EndpointSlices and the node's own Node and hands a data-path backend
// (netproxy/iptables) the desired state, naming which service ports
// changed since the backend last applied it.
package netproxy

import (
	"fmt"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// ServicePortName identifies one port of one Service; a Service with two
// ports is two independent entries for the data path.
type ServicePortName struct {
	Namespace string
	Name      string
	Port      string // the service port's name, "" for a single unnamed port
	Protocol  v1.Protocol
}

// String renders "namespace/name:port", the form kubectl users recognise.
func (n ServicePortName) String() string {
	if n.Port == "" {
		return n.Namespace + "/" + n.Name
	}
	return n.Namespace + "/" + n.Name + ":" + n.Port
}

// Endpoint is one backend address of a service port, with the port number
// already resolved from the EndpointSlice (named targetPorts included).
type Endpoint struct {
	IP          netip.Addr
	Port        int32
	NodeName    string
	Local       bool // runs on this node
	Ready       bool
	Serving     bool
	Terminating bool
}

// String renders "ip:port" ("[ip]:port" for IPv6).
func (e Endpoint) String() string {
	return netip.AddrPortFrom(e.IP, uint16(e.Port)).String()
}

// ServicePort is everything the data path needs to know about one service
// port. Values handed to a backend are never modified afterwards.
type ServicePort struct {
	Name     ServicePortName
	Protocol v1.Protocol
	Port     int32 // the port on cluster, external and load-balancer IPs
	NodePort int32 // 0 when the Service has none

	ClusterIPs               []netip.Addr
	ExternalIPs              []netip.Addr
	LoadBalancerIPs          []netip.Addr // status.loadBalancer.ingress[].ip
	LoadBalancerSourceRanges []netip.Prefix

	// SessionAffinityTimeout is non-zero (seconds) when the Service asks
	// for ClientIP affinity.
	SessionAffinityTimeout int32
	ExternalPolicyLocal    bool // externalTrafficPolicy: Local
	InternalPolicyLocal    bool // internalTrafficPolicy: Local

	// Endpoints holds every address of the service port, sorted by
	// address and port, whatever its condition.
	Endpoints []Endpoint
}

// ClusterEndpoints are the endpoints traffic with cluster-wide policy goes
// to: the ready ones or, when none is ready, the ones still serving while
// terminating, so a rolling update does not drop connections meanwhile.
func (sp *ServicePort) ClusterEndpoints() []Endpoint {
	return usable(sp.Endpoints, func(Endpoint) bool { return true })
}

// LocalEndpoints applies the same choice to the endpoints on this node.
func (sp *ServicePort) LocalEndpoints() []Endpoint {
	return usable(sp.Endpoints, func(e Endpoint) bool { return e.Local })
}

// InternalEndpoints are the endpoints for traffic to the cluster IPs.
func (sp *ServicePort) InternalEndpoints() []Endpoint {
	if sp.InternalPolicyLocal {
		return sp.LocalEndpoints()
	}
	return sp.ClusterEndpoints()
}

// ExternalEndpoints are the endpoints for traffic to node ports, external
// and load-balancer IPs.
func (sp *ServicePort) ExternalEndpoints() []Endpoint {
	if sp.ExternalPolicyLocal {
		return sp.LocalEndpoints()
	}
	return sp.ClusterEndpoints()
}

func usable(all []Endpoint, keep func(Endpoint) bool) []Endpoint {
	// Usually every endpoint is kept and ready: the answer is all of them,
	// shared rather than copied (a ServicePort's endpoints never change
	// once handed out, so neither may this).
	if !slices.ContainsFunc(all, func(e Endpoint) bool { return !keep(e) || !e.Ready }) {
		return slices.Clip(all)
	}
	var ready, fallback []Endpoint
	for _, e := range all {
		switch {
		case !keep(e):
		case e.Ready:
			ready = append(ready, e)
		case e.Serving && e.Terminating:
			fallback = append(fallback, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return fallback
}

// Equal reports whether two service ports need the same rules.
func (sp *ServicePort) Equal(o *ServicePort) bool {
	if sp == nil || o == nil {
		return sp == o
	}
	return sp.Name == o.Name && sp.Protocol == o.Protocol && sp.Port == o.Port &&
		sp.NodePort == o.NodePort &&
		slices.Equal(sp.ClusterIPs, o.ClusterIPs) &&
		slices.Equal(sp.ExternalIPs, o.ExternalIPs) &&
		slices.Equal(sp.LoadBalancerIPs, o.LoadBalancerIPs) &&
		slices.Equal(sp.LoadBalancerSourceRanges, o.LoadBalancerSourceRanges) &&
		sp.SessionAffinityTimeout == o.SessionAffinityTimeout &&
		sp.ExternalPolicyLocal == o.ExternalPolicyLocal &&
		sp.InternalPolicyLocal == o.InternalPolicyLocal &&
		slices.Equal(sp.Endpoints, o.Endpoints)
}

// State is the desired proxy state handed to a backend. A backend may keep
// it: the Proxy never modifies a State or its ServicePorts once handed out.
type State struct {
	NodeName string
	NodeIPs  []netip.Addr
	// ClusterCIDRs are the pod networks: traffic from elsewhere to a
	// cluster IP is masqueraded so replies come back through this node.
	ClusterCIDRs []netip.Prefix
	Services     map[ServicePortName]*ServicePort
}

// Sorted returns the service ports ordered by name, for deterministic
// output.
func (s *State) Sorted() []*ServicePort {
	out := make([]*ServicePort, 0, len(s.Services))
	for _, sp := range s.Services {
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b *ServicePort) int { return compareNames(a.Name, b.Name) })
	return out
}

func compareNames(a, b ServicePortName) int {
	for _, c := range [][2]string{{a.Namespace, b.Namespace}, {a.Name, b.Name}, {a.Port, b.Port}, {string(a.Protocol), string(b.Protocol)}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// validate catches a backend being handed something it cannot render.
func (sp *ServicePort) validate() error {
	switch sp.Protocol {
	case v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP:
	default:
		return fmt.Errorf("service port %s: unsupported protocol %q", sp.Name, sp.Protocol)
	}
	return nil
}
