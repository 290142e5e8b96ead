package endpointslice

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	utilnet "k8s.io/utils/net"

	"kite/server/controllers"
	"kite/server/controllers/endpoints/backends"
)

// addressTypes are the address types of the slices a Service gets: one
// per IP family. The API server always fills ipFamilies; a Service seen
// before that falls back on its cluster IP, and a headless one gets both.
func addressTypes(svc *corev1.Service) []discovery.AddressType {
	var out []discovery.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discovery.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discovery.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	if !backends.Headless(svc) {
		if utilnet.IsIPv6String(svc.Spec.ClusterIP) {
			return []discovery.AddressType{discovery.AddressTypeIPv6}
		}
		return []discovery.AddressType{discovery.AddressTypeIPv4}
	}
	return []discovery.AddressType{discovery.AddressTypeIPv4, discovery.AddressTypeIPv6}
}

// podPorts are the Service's ports as one pod offers them: named target
// ports resolved on that pod, ports it lacks left out.
func podPorts(svc *corev1.Service, pod *corev1.Pod) []discovery.EndpointPort {
	ports := []discovery.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, ok := backends.ContainerPort(pod, sp)
		if !ok {
			continue
		}
		name, protocol := sp.Name, sp.Protocol
		ports = append(ports, discovery.EndpointPort{Name: &name, Port: &num, Protocol: &protocol, AppProtocol: sp.AppProtocol})
	}
	return ports
}

// portsKey identifies a set of ports whatever their order: endpoints with
// the same ports share slices.
func portsKey(ports []discovery.EndpointPort) string {
	keys := make([]string, len(ports))
	for i, p := range ports {
		keys[i] = deref(p.Name) + "/" + string(deref(p.Protocol)) + "/" + strconv.Itoa(int(deref(p.Port)))
		if p.AppProtocol != nil {
			keys[i] += "=" + *p.AppProtocol
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// podEndpoint describes a pod as an endpoint of svc. Terminating pods keep
// serving from their readiness but are never ready, unless the Service
// publishes every address as ready.
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, node *corev1.Node, at discovery.AddressType) discovery.Endpoint {
	serving := controllers.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discovery.Endpoint{
		Addresses:  backends.IPs(pod, at == discovery.AddressTypeIPv6),
		Conditions: discovery.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		nodeName := pod.Spec.NodeName
		ep.NodeName = &nodeName
	}
	if node != nil && node.Labels[corev1.LabelTopologyZone] != "" {
		zone := node.Labels[corev1.LabelTopologyZone]
		ep.Zone = &zone
	}
	if h := backends.Hostname(pod, svc); h != "" {
		ep.Hostname = &h
	}
	return ep
}

// endpointKey identifies an endpoint across syncs by what does not change
// in place: its addresses, hostname and pod. Everything else (conditions,
// node, zone) is updated within the slice that holds it.
func endpointKey(ep *discovery.Endpoint) string {
	addrs := slices.Clone(ep.Addresses)
	slices.Sort(addrs)
	key := strings.Join(addrs, ",") + "|" + deref(ep.Hostname)
	if ep.TargetRef != nil {
		key += "|" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return key
}

// sameEndpoint tells whether two endpoints with the same key say the same.
func sameEndpoint(a, b *discovery.Endpoint) bool {
	return equalPtr(a.NodeName, b.NodeName) && equalPtr(a.Zone, b.Zone) &&
		equalPtr(a.Conditions.Ready, b.Conditions.Ready) &&
		equalPtr(a.Conditions.Serving, b.Conditions.Serving) &&
		equalPtr(a.Conditions.Terminating, b.Conditions.Terminating) &&
		sameTarget(a.TargetRef, b.TargetRef)
}

// sameTarget compares pod references, ignoring the resourceVersion that
// older writers recorded.
func sameTarget(a, b *corev1.ObjectReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.ResourceVersion, y.ResourceVersion = "", ""
	return x == y
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
