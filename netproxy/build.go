package netproxy

import (
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// proxyNameLabel marks Services that another proxy implementation handles;
// like kube-proxy, kite leaves those alone.
const proxyNameLabel = "service.kubernetes.io/service-proxy-name"

// skipService reports whether the Service gets no proxy rules at all:
// headless and ExternalName Services are answered by DNS only.
func skipService(svc *v1.Service) bool {
	if _, ok := svc.Labels[proxyNameLabel]; ok {
		return true
	}
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return true
	}
	return svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == v1.ClusterIPNone
}

// buildServicePorts turns a Service and all its EndpointSlices into one
// ServicePort per service port. nodeName decides which endpoints are local.
func buildServicePorts(svc *v1.Service, slices []*discoveryv1.EndpointSlice, nodeName string) []*ServicePort {
	if skipService(svc) {
		return nil
	}
	clusterIPs := parseAddrs(svc.Spec.ClusterIPs)
	if len(clusterIPs) == 0 {
		clusterIPs = parseAddrs([]string{svc.Spec.ClusterIP})
	}
	externalIPs := parseAddrs(svc.Spec.ExternalIPs)
	var lbIPs []netip.Addr
	var sourceRanges []netip.Prefix
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			// Proxy mode means the load balancer hands packets over with
			// the ingress IP kept as destination; VIP mode is the default.
			if ing.IPMode != nil && *ing.IPMode == v1.LoadBalancerIPModeProxy {
				continue
			}
			lbIPs = append(lbIPs, parseAddrs([]string{ing.IP})...)
		}
		lbIPs = sortedUnique(lbIPs)
		for _, r := range svc.Spec.LoadBalancerSourceRanges {
			if p, err := netip.ParsePrefix(strings.TrimSpace(r)); err == nil {
				sourceRanges = append(sourceRanges, p.Masked())
			}
		}
		slicesSortPrefixes(sourceRanges)
	}
	var affinity int32
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = v1.DefaultClientIPServiceAffinitySeconds
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	externalLocal := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal &&
		(svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer || len(externalIPs) > 0)
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal

	out := make([]*ServicePort, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		protocol := p.Protocol
		if protocol == "" {
			protocol = v1.ProtocolTCP
		}
		sp := &ServicePort{
			Name:                     ServicePortName{Namespace: svc.Namespace, Name: svc.Name, Port: p.Name, Protocol: protocol},
			Protocol:                 protocol,
			Port:                     p.Port,
			ClusterIPs:               clusterIPs,
			ExternalIPs:              externalIPs,
			LoadBalancerIPs:          lbIPs,
			LoadBalancerSourceRanges: sourceRanges,
			SessionAffinityTimeout:   affinity,
			ExternalPolicyLocal:      externalLocal,
			InternalPolicyLocal:      internalLocal,
			Endpoints:                endpointsFor(p.Name, protocol, slices, nodeName),
		}
		if svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer {
			sp.NodePort = p.NodePort
		}
		if sp.validate() != nil {
			continue
		}
		out = append(out, sp)
	}
	return out
}

// endpointsFor merges the endpoints of every slice for the service port
// named portName. The EndpointSlice controller has already resolved named
// targetPorts per pod: each slice lists, under the service port's name,
// the number its pods use. An address listed twice (a pod moving between
// slices) is kept once, in its most useful condition.
func endpointsFor(portName string, protocol v1.Protocol, list []*discoveryv1.EndpointSlice, nodeName string) []Endpoint {
	byAddr := map[netip.AddrPort]Endpoint{}
	for _, slice := range list {
		if slice.AddressType != discoveryv1.AddressTypeIPv4 && slice.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port, ok := slicePort(slice, portName, protocol)
		if !ok {
			continue
		}
		for _, e := range slice.Endpoints {
			cond := conditions(e.Conditions)
			node := ""
			if e.NodeName != nil {
				node = *e.NodeName
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				ep := Endpoint{IP: ip.Unmap(), Port: port, NodeName: node, Local: node != "" && node == nodeName,
					Ready: cond.Ready, Serving: cond.Serving, Terminating: cond.Terminating}
				key := netip.AddrPortFrom(ep.IP, uint16(port))
				if prev, seen := byAddr[key]; !seen || rank(ep) > rank(prev) {
					byAddr[key] = ep
				}
			}
		}
	}
	out := make([]Endpoint, 0, len(byAddr))
	for _, e := range byAddr {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return int(a.Port) - int(b.Port)
	})
	return out
}

// rank orders duplicate entries of one address: ready beats serving beats
// neither.
func rank(e Endpoint) int {
	switch {
	case e.Ready:
		return 2
	case e.Serving:
		return 1
	}
	return 0
}

// slicePort finds the slice's port for the service port. A slice port
// with no port number means "all ports" and cannot be proxied.
func slicePort(slice *discoveryv1.EndpointSlice, name string, protocol v1.Protocol) (int32, bool) {
	for _, p := range slice.Ports {
		pName := ""
		if p.Name != nil {
			pName = *p.Name
		}
		pProto := v1.ProtocolTCP
		if p.Protocol != nil {
			pProto = *p.Protocol
		}
		if pName == name && pProto == protocol && p.Port != nil {
			return *p.Port, true
		}
	}
	return 0, false
}

type endpointConditions struct{ Ready, Serving, Terminating bool }

// conditions applies the API's reading of unset conditions: unknown
// readiness counts as ready, unknown serving follows readiness.
func conditions(c discoveryv1.EndpointConditions) endpointConditions {
	out := endpointConditions{Ready: c.Ready == nil || *c.Ready}
	out.Serving = out.Ready
	if c.Serving != nil {
		out.Serving = *c.Serving
	}
	out.Terminating = c.Terminating != nil && *c.Terminating
	return out
}

// parseAddrs parses the valid addresses, sorted and deduplicated.
func parseAddrs(in []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range in {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return sortedUnique(out)
}

func sortedUnique(in []netip.Addr) []netip.Addr {
	slices.SortFunc(in, netip.Addr.Compare)
	return slices.Compact(in)
}

func slicesSortPrefixes(in []netip.Prefix) {
	slices.SortFunc(in, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}
