//lint:file-ignore SA1019 core/v1 Endpoints are deprecated in favour of EndpointSlices, but clients still read them and this controller is what writes them.

package endpoints

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/utils/net"

	"kite/server/controllers"
	"kite/server/controllers/endpoints/backends"
)

// entry is one pod offering one port of a Service.
type entry struct {
	addr  corev1.EndpointAddress
	ready bool
	port  *corev1.EndpointPort // nil for a headless Service without ports
}

// desiredSubsets lists the pods that back svc, grouped the way the API
// expects: one subset per set of ports that the same addresses offer.
// Pods on which a named targetPort resolves to different numbers thus land
// in different subsets.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	var entries []entry
	for _, pod := range pods {
		// Terminating pods are left out, unless the Service publishes
		// every address regardless of readiness.
		if !backends.Published(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr, ok := podAddress(svc, pod)
		if !ok {
			continue // no address of the Service's family
		}
		ready := svc.Spec.PublishNotReadyAddresses || controllers.IsPodReady(pod)
		if len(svc.Spec.Ports) == 0 {
			// Only headless Services may go without ports.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				entries = append(entries, entry{addr: addr, ready: ready})
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			num, ok := backends.ContainerPort(pod, sp)
			if !ok {
				continue // the pod has no port of that name
			}
			entries = append(entries, entry{addr: addr, ready: ready, port: &corev1.EndpointPort{
				Name: sp.Name, Port: num, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol,
			}})
		}
	}
	return pack(entries)
}

// podAddress is the pod's address of the Service's (primary) IP family.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	ips := backends.IPs(pod, wantsIPv6(svc, pod))
	if len(ips) == 0 {
		return corev1.EndpointAddress{}, false
	}
	addr := corev1.EndpointAddress{
		IP:        ips[0],
		Hostname:  backends.Hostname(pod, svc),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		nodeName := pod.Spec.NodeName
		addr.NodeName = &nodeName
	}
	return addr, true
}

// wantsIPv6 tells the Service's primary family; the API server always
// fills ipFamilies, but a Service seen before that falls back on its
// cluster IP, then on the pod's own address.
func wantsIPv6(svc *corev1.Service, pod *corev1.Pod) bool {
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		return svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		return utilnet.IsIPv6String(svc.Spec.ClusterIP)
	default:
		return utilnet.IsIPv6String(pod.Status.PodIP)
	}
}

type addressID struct {
	ip  string
	uid types.UID
}

func idOf(a *corev1.EndpointAddress) addressID {
	id := addressID{ip: a.IP}
	if a.TargetRef != nil {
		id.uid = a.TargetRef.UID
	}
	return id
}

// pack builds the canonical subsets of entries: the addresses offering
// each port are collected (an address not ready on a port stays not ready
// there), ports offered by exactly the same addresses share a subset, and
// everything is sorted so equal content always reads the same.
func pack(entries []entry) []corev1.EndpointSubset {
	type portGroup struct {
		port  *corev1.EndpointPort
		ready map[addressID]bool
	}
	addresses := map[addressID]corev1.EndpointAddress{}
	var ports []*portGroup
	byPort := map[string]*portGroup{}
	for _, e := range entries {
		id := idOf(&e.addr)
		if _, ok := addresses[id]; !ok {
			addresses[id] = e.addr
		}
		pk := portKey(e.port)
		g := byPort[pk]
		if g == nil {
			g = &portGroup{port: e.port, ready: map[addressID]bool{}}
			byPort[pk] = g
			ports = append(ports, g)
		}
		if wasReady, seen := g.ready[id]; !seen || wasReady {
			g.ready[id] = e.ready
		}
	}

	// Ports with the same addresses (and readiness) become one subset.
	var subsets []corev1.EndpointSubset
	bySet := map[string]int{}
	for _, g := range ports {
		sk := addressSetKey(g.ready)
		i, ok := bySet[sk]
		if !ok {
			i = len(subsets)
			bySet[sk] = i
			var s corev1.EndpointSubset
			for id, ready := range g.ready {
				if ready {
					s.Addresses = append(s.Addresses, addresses[id])
				} else {
					s.NotReadyAddresses = append(s.NotReadyAddresses, addresses[id])
				}
			}
			subsets = append(subsets, s)
		}
		if g.port != nil {
			subsets[i].Ports = append(subsets[i].Ports, *g.port)
		}
	}
	for i := range subsets {
		slices.SortFunc(subsets[i].Addresses, compareAddresses)
		slices.SortFunc(subsets[i].NotReadyAddresses, compareAddresses)
		slices.SortFunc(subsets[i].Ports, func(a, b corev1.EndpointPort) int { return strings.Compare(portKey(&a), portKey(&b)) })
	}
	slices.SortFunc(subsets, compareSubsets)
	return subsets
}

func portKey(p *corev1.EndpointPort) string {
	if p == nil {
		return ""
	}
	app := "-"
	if p.AppProtocol != nil {
		app = "=" + *p.AppProtocol
	}
	return p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + app
}

func addressSetKey(ready map[addressID]bool) string {
	keys := make([]string, 0, len(ready))
	for id, r := range ready {
		keys = append(keys, id.ip+"|"+string(id.uid)+"|"+strconv.FormatBool(r))
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func compareAddresses(a, b corev1.EndpointAddress) int {
	ia, ib := idOf(&a), idOf(&b)
	return cmp.Or(strings.Compare(ia.ip, ib.ip), strings.Compare(string(ia.uid), string(ib.uid)))
}

// compareSubsets orders subsets by their first port, then first address.
func compareSubsets(a, b corev1.EndpointSubset) int {
	first := func(s corev1.EndpointSubset) (string, string) {
		var port, addr string
		if len(s.Ports) > 0 {
			port = portKey(&s.Ports[0])
		}
		switch {
		case len(s.Addresses) > 0:
			addr = s.Addresses[0].IP
		case len(s.NotReadyAddresses) > 0:
			addr = s.NotReadyAddresses[0].IP
		}
		return port, addr
	}
	pa, aa := first(a)
	pb, ab := first(b)
	return cmp.Or(strings.Compare(pa, pb), strings.Compare(aa, ab))
}
