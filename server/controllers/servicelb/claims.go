package servicelb

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// A node IP can carry a port and protocol for one Service only: the
// service proxy routes traffic to an ingress IP and port by that pair.
// claims settles who gets what.

// portKey is a Service port as the proxy matches it.
type portKey struct {
	port     int32
	protocol corev1.Protocol
}

func (p portKey) String() string { return fmt.Sprintf("%d/%s", p.port, p.protocol) }

// listener is one port on one node IP.
type listener struct {
	ip   netip.Addr
	port portKey
}

// claim is a Service asking for its ports on the IPs it could be served on.
type claim struct {
	svc *corev1.Service
	ips []netip.Addr
}

// grant is what a claim got: the IPs where all its ports were free, and
// what kept it off the others.
type grant struct {
	ips       []netip.Addr
	conflicts []conflict
}

// conflict says that port on ips is held by the Service holder, or by the
// built-in ingress when holder is nil.
type conflict struct {
	port   portKey
	holder *corev1.Service
	ips    []netip.Addr
}

// resolve hands every IP and port to the oldest claimant (by creation time,
// then namespace/name, so every leader decides alike). A Service gets an IP
// only with all its ports: ingress is per IP, and an IP with some ports
// missing would answer only in part. An IP withheld from a Service holds
// nothing for it, so a younger Service may get it. Grants are keyed by
// namespace/name. The reserved TCP ports are the built-in ingress's on
// every node address; no Service gets them.
func resolve(claims []claim, reserved []int32) map[string]grant {
	claims = slices.Clone(claims)
	slices.SortFunc(claims, func(a, b claim) int { return older(a.svc, b.svc) })
	held := map[listener]*corev1.Service{}
	out := make(map[string]grant, len(claims))
	for _, c := range claims {
		var g grant
		for _, ip := range c.ips {
			blocked := false
			for _, p := range c.svc.Spec.Ports {
				port := portKey{p.Port, protocol(p)}
				if port.protocol == corev1.ProtocolTCP && slices.Contains(reserved, port.port) {
					g.conflicts = addConflict(g.conflicts, port, nil, ip)
					blocked = true
				} else if holder, ok := held[listener{ip, port}]; ok {
					g.conflicts = addConflict(g.conflicts, port, holder, ip)
					blocked = true
				}
			}
			if blocked {
				continue
			}
			for _, p := range c.svc.Spec.Ports {
				held[listener{ip, portKey{p.Port, protocol(p)}}] = c.svc
			}
			g.ips = append(g.ips, ip)
		}
		out[key(c.svc)] = g
	}
	return out
}

// older orders Services oldest first, ties broken by namespace/name.
func older(a, b *corev1.Service) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Compare(key(a), key(b))
}

// addConflict records ip under the conflict of port with holder.
func addConflict(list []conflict, port portKey, holder *corev1.Service, ip netip.Addr) []conflict {
	for i := range list {
		if list[i].port == port && list[i].holder == holder {
			list[i].ips = append(list[i].ips, ip)
			return list
		}
	}
	return append(list, conflict{port: port, holder: holder, ips: []netip.Addr{ip}})
}

// protocol is p's protocol, TCP when unset as the API server defaults it.
func protocol(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

func key(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// describe explains conflicts in one line for an Event.
func describe(conflicts []conflict) string {
	parts := make([]string, 0, len(conflicts))
	for _, c := range conflicts {
		ips := make([]string, len(c.ips))
		for i, ip := range c.ips {
			ips[i] = ip.String()
		}
		holder := "kite's built-in ingress (--disable ingress frees it)"
		if c.holder != nil {
			holder = "LoadBalancer Service " + key(c.holder)
		}
		parts = append(parts, fmt.Sprintf("port %s on %s is held by %s", c.port, strings.Join(ips, ", "), holder))
	}
	return strings.Join(parts, "; ")
}
