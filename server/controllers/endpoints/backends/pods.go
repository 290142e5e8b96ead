// Package backends holds what the endpoints and endpointslice controllers
// agree on about the pods behind a Service: which pods are published, on
// which address and port, and which pod changes matter to which Services.
package backends

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilnet "k8s.io/utils/net"

	"kite/server/controllers"
)

// Published tells whether a pod belongs in a Service's endpoints at all:
// it has an address and has not finished. Terminating pods (a deletion
// timestamp set) count only when includeTerminating is set.
func Published(pod *corev1.Pod, includeTerminating bool) bool {
	if controllers.IsPodTerminal(pod) || (pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0) {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// Hostname is the pod's DNS hostname within the Service, or "" when the
// pod does not name the Service as its subdomain.
func Hostname(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// IPs are the pod's addresses of one family (IPv6 when ipv6 is set), in
// canonical text form.
func IPs(pod *corev1.Pod, ipv6 bool) []string {
	var out []string
	for _, s := range podIPs(pod) {
		// Sloppy parsing accepts the leading zeros older API servers let
		// through; the address is published in canonical form.
		ip := utilnet.ParseIPSloppy(s)
		if ip != nil && utilnet.IsIPv6(ip) == ipv6 {
			out = append(out, ip.String())
		}
	}
	return out
}

func podIPs(pod *corev1.Pod) []string {
	if len(pod.Status.PodIPs) == 0 {
		if pod.Status.PodIP == "" {
			return nil
		}
		return []string{pod.Status.PodIP}
	}
	ips := make([]string, len(pod.Status.PodIPs))
	for i, ip := range pod.Status.PodIPs {
		ips[i] = ip.IP
	}
	return ips
}

// ContainerPort resolves a Service port's targetPort on one pod: a number
// is used as is; a name is looked up among the ports of the pod's
// containers and sidecars (restartable init containers) with the same
// protocol. ok is false when the pod has no such named port.
func ContainerPort(pod *corev1.Pod, sp *corev1.ServicePort) (port int32, ok bool) {
	switch sp.TargetPort.Type {
	case intstr.Int:
		return sp.TargetPort.IntVal, true
	case intstr.String:
		for _, c := range pod.Spec.Containers {
			if p, ok := namedPort(c.Ports, sp.TargetPort.StrVal, sp.Protocol); ok {
				return p, true
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				continue
			}
			if p, ok := namedPort(c.Ports, sp.TargetPort.StrVal, sp.Protocol); ok {
				return p, true
			}
		}
	}
	return 0, false
}

func namedPort(ports []corev1.ContainerPort, name string, protocol corev1.Protocol) (int32, bool) {
	for _, p := range ports {
		if p.Name == name && p.Protocol == protocol {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// Headless tells whether the Service has no cluster IP.
func Headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == ""
}
