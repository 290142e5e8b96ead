package dns

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The slim* functions are informer transforms: they keep only the fields DNS
// reads, so every agent holds a small copy of each Service, EndpointSlice and
// Namespace. Objects of other types (such as delete tombstones) pass through.
// They are idempotent, as client-go may hand them an already slim object.

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}

func slimService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	out := &corev1.Service{
		ObjectMeta: slimMeta(svc.ObjectMeta),
		Spec: corev1.ServiceSpec{
			Type:         svc.Spec.Type,
			ClusterIP:    svc.Spec.ClusterIP,
			ClusterIPs:   svc.Spec.ClusterIPs,
			ExternalName: svc.Spec.ExternalName,
		},
	}
	for _, p := range svc.Spec.Ports {
		out.Spec.Ports = append(out.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port})
	}
	return out, nil
}

func slimNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{ObjectMeta: slimMeta(ns.ObjectMeta)}, nil
}

func slimEndpointSlice(obj any) (any, error) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	out := &discoveryv1.EndpointSlice{
		ObjectMeta:  slimMeta(slice.ObjectMeta),
		AddressType: slice.AddressType,
		Ports:       slice.Ports,
	}
	if name, ok := slice.Labels[discoveryv1.LabelServiceName]; ok {
		out.Labels = map[string]string{discoveryv1.LabelServiceName: name}
	}
	for _, ep := range slice.Endpoints {
		if !endpointReady(ep) {
			continue
		}
		out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{
			Addresses:  ep.Addresses,
			Hostname:   ep.Hostname,
			Conditions: discoveryv1.EndpointConditions{Ready: ep.Conditions.Ready},
		})
	}
	return out, nil
}
