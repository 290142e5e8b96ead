package ingress

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The slim* functions are informer transforms: they keep only the fields the
// ingress proxy reads, so an agent holds small copies. Objects of other
// types (such as delete tombstones) pass through. They are idempotent, as
// client-go may hand them an already slim object.

// slimMeta keeps identity (events need UID and resourceVersion) and, when
// keep names any, those annotations.
func slimMeta(m metav1.ObjectMeta, keep ...string) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID,
		ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp,
	}
	for _, k := range keep {
		if v, ok := m.Annotations[k]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	return out
}

func slimIngress(obj any) (any, error) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return obj, nil
	}
	return &networkingv1.Ingress{
		ObjectMeta: slimMeta(ing.ObjectMeta, annotationLegacyClass, AnnotationSSLRedirect),
		Spec:       ing.Spec,
	}, nil
}

func slimIngressClass(obj any) (any, error) {
	class, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return obj, nil
	}
	return &networkingv1.IngressClass{
		ObjectMeta: slimMeta(class.ObjectMeta, networkingv1.AnnotationIsDefaultIngressClass),
	}, nil
}

func slimService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	out := &corev1.Service{
		ObjectMeta: slimMeta(svc.ObjectMeta),
		Spec:       corev1.ServiceSpec{Type: svc.Spec.Type, ExternalName: svc.Spec.ExternalName},
	}
	for _, p := range svc.Spec.Ports {
		out.Spec.Ports = append(out.Spec.Ports, corev1.ServicePort{
			Name: p.Name, Protocol: p.Protocol, Port: p.Port, TargetPort: p.TargetPort,
		})
	}
	return out, nil
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
		out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{
			Addresses:  ep.Addresses,
			Conditions: ep.Conditions,
		})
	}
	return out, nil
}

func slimSecret(obj any) (any, error) {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	out := &corev1.Secret{ObjectMeta: slimMeta(secret.ObjectMeta), Type: secret.Type}
	if secret.Type == corev1.SecretTypeTLS {
		out.Data = map[string][]byte{
			corev1.TLSCertKey:       secret.Data[corev1.TLSCertKey],
			corev1.TLSPrivateKeyKey: secret.Data[corev1.TLSPrivateKeyKey],
		}
	}
	return out, nil
}
