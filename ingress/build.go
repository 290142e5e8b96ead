package ingress

import (
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// problem is why part of an Ingress cannot be served; it becomes a Warning
// event on the Ingress.
type problem struct {
	reason, message string
}

// builder turns the watched objects into routeTables. Builds run one at a
// time (from the rebuild loop), so its caches need no lock.
type builder struct {
	w        *watcher
	recorder record.EventRecorder
	log      *slog.Logger
	certs    *certCache
	// warned holds, per Ingress, the problems already reported, so an
	// Ingress that stays broken is reported once and not on every rebuild.
	warned map[types.NamespacedName]map[problem]bool
}

func newBuilder(w *watcher, recorder record.EventRecorder, log *slog.Logger) *builder {
	return &builder{w: w, recorder: recorder, log: log, certs: newCertCache(), warned: map[types.NamespacedName]map[problem]bool{}}
}

// ingressBuild collects what one Ingress contributes while it is added.
type ingressBuild struct {
	ing      *networkingv1.Ingress
	key      types.NamespacedName
	problems []problem
}

func (ib *ingressBuild) report(reason, message string) {
	ib.problems = append(ib.problems, problem{reason, message})
}

// build reads the informer caches and returns a new table.
func (b *builder) build() *routeTable {
	all, err := b.w.ingresses.List(labels.Everything())
	if err != nil {
		b.log.Error("list ingresses", "err", err)
	}
	kiteIsDefault := b.kiteIsDefaultClass()
	var served []*networkingv1.Ingress
	for _, ing := range all {
		if ServedByKite(ing, kiteIsDefault) {
			served = append(served, ing)
		}
	}
	// Oldest first: on conflicts (default backend, certificate of a host,
	// identical paths) the oldest Ingress wins, as with other controllers.
	sort.Slice(served, func(i, j int) bool {
		a, b := served[i], served[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})

	t := newRouteTable()
	backends := map[string]*backend{}
	builds := make([]*ingressBuild, 0, len(served))
	for _, ing := range served {
		ib := &ingressBuild{ing: ing, key: types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}}
		t.served[ib.key] = true
		b.addIngress(t, ib, backends)
		builds = append(builds, ib)
	}
	for _, be := range backends {
		for _, endpoint := range be.endpoints {
			t.endpoints[endpoint] = true
		}
	}
	t.sort()
	b.reportProblems(builds)
	return t
}

func (b *builder) kiteIsDefaultClass() bool {
	class, err := b.w.classes.Get(ClassName)
	return err == nil && IsDefaultClass(class)
}

// IsDefaultClass tells whether class is kite's IngressClass marked as the
// cluster's default.
func IsDefaultClass(class *networkingv1.IngressClass) bool {
	return class != nil && class.Name == ClassName &&
		class.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
}

// ServedByKite applies the class rules: spec.ingressClassName wins, then the
// legacy annotation, and an Ingress naming neither belongs to the default
// class. The server's status controller uses the same rule.
func ServedByKite(ing *networkingv1.Ingress, kiteIsDefault bool) bool {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName == ClassName
	}
	if class, ok := ing.Annotations[annotationLegacyClass]; ok {
		return class == ClassName
	}
	return kiteIsDefault
}

func (b *builder) addIngress(t *routeTable, ib *ingressBuild, backends map[string]*backend) {
	ing := ib.ing
	tlsHosts := b.addCertificates(t, ib)
	redirect := ing.Annotations[AnnotationSSLRedirect] == "true"

	if ing.Spec.DefaultBackend != nil && t.defaultRoute == nil {
		if be := b.resolveBackend(ib, *ing.Spec.DefaultBackend, backends); be != nil {
			t.defaultRoute = &route{ingress: ib.key, ingressName: ib.key.String(), created: ing.CreationTimestamp.Time, path: "/", backend: be}
		}
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		host := strings.ToLower(rule.Host)
		for _, p := range rule.HTTP.Paths {
			be := b.resolveBackend(ib, p.Backend, backends)
			if be == nil {
				continue
			}
			pathType := networkingv1.PathTypePrefix
			if p.PathType != nil {
				pathType = *p.PathType
			}
			path, exact := normalisePath(p.Path, pathType)
			t.add(host, &route{
				ingress:     ib.key,
				ingressName: ib.key.String(),
				created:     ing.CreationTimestamp.Time,
				exact:       exact,
				path:        path,
				backend:     be,
				sslRedirect: redirect && host != "" && coveredBy(host, tlsHosts),
			})
		}
	}
}

// coveredBy reports whether host is among the TLS hosts, directly or through
// a wildcard entry.
func coveredBy(host string, tlsHosts []string) bool {
	parent, hasParent := wildcardParent(host)
	for _, h := range tlsHosts {
		if h == host || (hasParent && h == "*."+parent) {
			return true
		}
	}
	return false
}

// addCertificates files the Ingress's TLS certificates by host and returns
// every host its tls section names (an entry without hosts covers the hosts
// of the Ingress's rules).
func (b *builder) addCertificates(t *routeTable, ib *ingressBuild) []string {
	var all []string
	for _, entry := range ib.ing.Spec.TLS {
		named := entry.Hosts
		if len(named) == 0 {
			named = nil
			for _, r := range ib.ing.Spec.Rules {
				named = append(named, r.Host)
			}
		}
		// A copy: the Ingress belongs to the informer cache.
		hosts := make([]string, 0, len(named))
		for _, h := range named {
			if h != "" {
				hosts = append(hosts, strings.ToLower(h))
			}
		}
		all = append(all, hosts...)
		if entry.SecretName == "" {
			continue
		}
		cert, prob := b.certs.get(b.w.secrets, ib.ing.Namespace, entry.SecretName)
		if prob != nil {
			ib.report(prob.reason, prob.message)
			continue
		}
		for _, h := range hosts {
			t.certs.add(h, cert)
		}
	}
	return all
}

// resolveBackend returns the backend of an IngressBackend, or nil (with a
// problem reported) when it cannot be a route at all. A missing Service or
// port still yields a backend, without endpoints, so its paths answer 503
// rather than falling through to another rule.
func (b *builder) resolveBackend(ib *ingressBuild, ref networkingv1.IngressBackend, backends map[string]*backend) *backend {
	if ref.Service == nil {
		ib.report("UnsupportedBackend", "resource backends are not supported by the kite ingress; the path is not served")
		return nil
	}
	ns, name := ib.ing.Namespace, ref.Service.Name
	port := ref.Service.Port.Name
	if port == "" {
		port = strconv.Itoa(int(ref.Service.Port.Number))
	}
	cacheKey := ns + "/" + name + ":" + port
	be, ok := backends[cacheKey]
	if !ok {
		be = b.newBackend(ns, name, ref.Service.Port, port)
		backends[cacheKey] = be
	}
	if be.problem != nil {
		ib.report(be.problem.reason, be.problem.message)
	}
	return be
}

func (b *builder) newBackend(ns, name string, ref networkingv1.ServiceBackendPort, port string) *backend {
	be := &backend{service: types.NamespacedName{Namespace: ns, Name: name}, port: port}
	svc, err := b.w.services.Services(ns).Get(name)
	if err != nil {
		be.problem = &problem{"ServiceNotFound", "service " + ns + "/" + name + " not found"}
		return be
	}
	sp, found := servicePort(svc, ref)
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// ExternalName Services have no endpoints: the proxy dials the name.
		target := ref.Number
		if found {
			target = sp.Port
		}
		if target == 0 {
			be.problem = &problem{"ServicePortNotFound", "service " + ns + "/" + name + " has no port " + port}
			return be
		}
		be.endpoints = []string{net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(target)))}
		return be
	}
	if !found {
		be.problem = &problem{"ServicePortNotFound", "service " + ns + "/" + name + " has no TCP port " + port}
		return be
	}
	be.endpoints = b.endpointsOf(ns, name, sp)
	return be
}

// servicePort finds the Service port an Ingress names by name or number.
func servicePort(svc *corev1.Service, ref networkingv1.ServiceBackendPort) (corev1.ServicePort, bool) {
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if (ref.Name != "" && p.Name == ref.Name) || (ref.Name == "" && p.Port == ref.Number) {
			return p, true
		}
	}
	return corev1.ServicePort{}, false
}

// endpointsOf lists "ip:port" for a Service port. EndpointSlices carry the
// Service port's name with the resolved target port number, which is how a
// named targetPort reaches the right container port on every Pod. Ready
// endpoints are used; when none is ready, serving-terminating ones are, so a
// rollout that empties the Service does not drop requests it could still serve.
func (b *builder) endpointsOf(ns, service string, sp corev1.ServicePort) []string {
	ready := map[string]bool{}
	terminating := map[string]bool{}
	for _, slice := range b.w.slicesOf(ns, service) {
		var port int32
		for _, p := range slice.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			tcp := p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP
			if name == sp.Name && tcp && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range slice.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			addr := net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
			c := ep.Conditions
			switch {
			case c.Ready == nil || *c.Ready:
				ready[addr] = true
			case c.Serving != nil && *c.Serving && c.Terminating != nil && *c.Terminating:
				terminating[addr] = true
			}
		}
	}
	chosen := ready
	if len(chosen) == 0 {
		chosen = terminating
	}
	out := make([]string, 0, len(chosen))
	for a := range chosen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// reportProblems emits each problem once per Ingress (as a Warning event and
// a log line) until the Ingress is fixed or changes problems.
func (b *builder) reportProblems(builds []*ingressBuild) {
	next := make(map[types.NamespacedName]map[problem]bool, len(builds))
	for _, ib := range builds {
		if len(ib.problems) == 0 {
			continue
		}
		seen := map[problem]bool{}
		for _, p := range ib.problems {
			if seen[p] {
				continue
			}
			seen[p] = true
			if b.warned[ib.key][p] {
				continue
			}
			b.log.Warn("ingress cannot be fully served", "ingress", ib.key.String(), "reason", p.reason, "problem", p.message)
			if b.recorder != nil {
				b.recorder.Event(ib.ing, corev1.EventTypeWarning, p.reason, p.message)
			}
		}
		next[ib.key] = seen
	}
	b.warned = next
}
