package envvars

import (
	"net"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// masterServiceName is the API server's Service in the default namespace;
// every pod gets its variables, even with enableServiceLinks false, because
// in-cluster client configuration reads KUBERNETES_SERVICE_HOST/PORT.
const masterServiceName = "kubernetes"

// linkedServices picks the Services whose variables a pod in namespace ns
// sees: the master Service of the default namespace, and with service links
// every Service of ns (a Service named "kubernetes" in ns takes precedence).
func linkedServices(ns string, enableLinks bool, inNamespace, inDefault []*v1.Service) map[string]*v1.Service {
	picked := make(map[string]*v1.Service)
	for _, svc := range inDefault {
		if svc.Namespace == "default" && svc.Name == masterServiceName && hasClusterIP(svc) {
			picked[svc.Name] = svc
		}
	}
	if !enableLinks {
		return picked
	}
	for _, svc := range inNamespace {
		if svc.Namespace != ns || !hasClusterIP(svc) {
			continue
		}
		if ns == "default" && svc.Name == masterServiceName {
			continue // already picked above
		}
		picked[svc.Name] = svc
	}
	return picked
}

func hasClusterIP(svc *v1.Service) bool {
	return svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != v1.ClusterIPNone
}

// serviceVars appends the variables of one Service: <NAME>_SERVICE_HOST,
// <NAME>_SERVICE_PORT[_<PORTNAME>] and the docker-link style
// <NAME>_PORT[_<port>_<PROTO>[_PROTO|_PORT|_ADDR]].
func serviceVars(svc *v1.Service, add func(name, value string)) {
	if !hasClusterIP(svc) || len(svc.Spec.Ports) == 0 {
		return
	}
	prefix := envName(svc.Name)
	ip := svc.Spec.ClusterIP
	add(prefix+"_SERVICE_HOST", ip)
	add(prefix+"_SERVICE_PORT", strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			add(prefix+"_SERVICE_PORT_"+envName(p.Name), strconv.Itoa(int(p.Port)))
		}
	}
	for i, p := range svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(v1.ProtocolTCP)
		}
		port := strconv.Itoa(int(p.Port))
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			add(prefix+"_PORT", url)
		}
		portPrefix := prefix + "_PORT_" + port + "_" + strings.ToUpper(proto)
		add(portPrefix, url)
		add(portPrefix+"_PROTO", strings.ToLower(proto))
		add(portPrefix+"_PORT", port)
		add(portPrefix+"_ADDR", ip)
	}
}

// envName turns a Service or port name into a variable name part.
func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}
