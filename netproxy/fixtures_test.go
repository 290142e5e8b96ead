package netproxy

import (
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// service builds a ClusterIP Service "ns/name" with the given ports
// ("name:port/PROTO"-style via svcPort) and applies the options.
func service(name, clusterIP string, ports []v1.ServicePort, opts ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeClusterIP,
			ClusterIP:  clusterIP,
			ClusterIPs: []string{clusterIP},
			Ports:      ports,
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func svcPort(name string, port int32, proto v1.Protocol) v1.ServicePort {
	return v1.ServicePort{Name: name, Port: port, Protocol: proto}
}

// ep is an endpoint for a slice: address, node and conditions.
type ep struct {
	addr                        string
	node                        string
	ready, serving, terminating *bool
}

func readyEp(addr, node string) ep { return ep{addr: addr, node: node} }

func terminatingEp(addr, node string, serving bool) ep {
	return ep{addr: addr, node: node, ready: ptr.To(false), serving: ptr.To(serving), terminating: ptr.To(true)}
}

func notReadyEp(addr, node string) ep {
	return ep{addr: addr, node: node, ready: ptr.To(false), serving: ptr.To(false)}
}

// slice builds an IPv4 EndpointSlice for Service ns/svc.
func slice(svc, name string, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
	for _, e := range eps {
		d := discoveryv1.Endpoint{Addresses: []string{e.addr},
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating}}
		if e.node != "" {
			d.NodeName = ptr.To(e.node)
		}
		s.Endpoints = append(s.Endpoints, d)
	}
	return s
}

func slicePortSpec(name string, port int32, proto v1.Protocol) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(proto)}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
