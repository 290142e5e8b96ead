package netproxy

import (
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The informers keep slim copies: only the fields the proxy reads, so a
// node holds a fraction of what the API server sends for each object.

func slimMeta(m metav1.ObjectMeta, keepLabel string) metav1.ObjectMeta {
	out := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion, UID: m.UID}
	if v, ok := m.Labels[keepLabel]; ok {
		out.Labels = map[string]string{keepLabel: v}
	}
	return out
}

func slimService(obj any) (any, error) {
	svc, ok := obj.(*v1.Service)
	if !ok {
		return obj, nil
	}
	out := &v1.Service{ObjectMeta: slimMeta(svc.ObjectMeta, proxyNameLabel)}
	out.Spec = v1.ServiceSpec{
		Type:                     svc.Spec.Type,
		ClusterIP:                svc.Spec.ClusterIP,
		ClusterIPs:               svc.Spec.ClusterIPs,
		ExternalIPs:              svc.Spec.ExternalIPs,
		SessionAffinity:          svc.Spec.SessionAffinity,
		SessionAffinityConfig:    svc.Spec.SessionAffinityConfig,
		ExternalTrafficPolicy:    svc.Spec.ExternalTrafficPolicy,
		InternalTrafficPolicy:    svc.Spec.InternalTrafficPolicy,
		LoadBalancerSourceRanges: svc.Spec.LoadBalancerSourceRanges,
	}
	for _, p := range svc.Spec.Ports {
		out.Spec.Ports = append(out.Spec.Ports, v1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port, NodePort: p.NodePort})
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		out.Status.LoadBalancer.Ingress = append(out.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ing.IP, IPMode: ing.IPMode})
	}
	return out, nil
}

func slimEndpointSlice(obj any) (any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	out := &discoveryv1.EndpointSlice{
		ObjectMeta:  slimMeta(s.ObjectMeta, discoveryv1.LabelServiceName),
		AddressType: s.AddressType,
		Ports:       s.Ports,
	}
	out.Endpoints = make([]discoveryv1.Endpoint, 0, len(s.Endpoints))
	for _, e := range s.Endpoints {
		out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{Addresses: e.Addresses, Conditions: e.Conditions, NodeName: e.NodeName})
	}
	return out, nil
}

func slimNode(obj any) (any, error) {
	n, ok := obj.(*v1.Node)
	if !ok {
		return obj, nil
	}
	out := &v1.Node{ObjectMeta: slimMeta(n.ObjectMeta, "")}
	out.Status.Addresses = n.Status.Addresses
	return out, nil
}
