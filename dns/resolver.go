package dns

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

const (
	// recordTTL is CoreDNS's default TTL for cluster records and the SOA minimum.
	recordTTL = 5
	// dnsVersionTTL is the TTL CoreDNS gives the dns-version record.
	dnsVersionTTL = 28800
	// schemaVersion is the Kubernetes DNS-Based Service Discovery version served.
	schemaVersion = "1.1.0"
	// maxCNAMEChain bounds how many ExternalName hops one answer follows.
	maxCNAMEChain = 8
)

// result is the content of a reply: rcode and the three record sections.
type result struct {
	rcode      int
	answer     []mdns.RR
	authority  []mdns.RR
	additional []mdns.RR
}

// externalLookup resolves a name outside the cluster zone and returns the
// answer records, or none when it cannot.
type externalLookup func(ctx context.Context, name string, qtype uint16) []mdns.RR

// resolver answers questions about the cluster zone (and PTR questions about
// cluster addresses) from the model. It knows nothing about sockets.
type resolver struct {
	zone        string // fully qualified, lower case
	model       *model
	nameServers []netip.Addr // addresses of ns.dns.<zone>: where this server listens
	external    externalLookup
	synced      func() bool
}

// target is one address a service name resolves to, with the port it serves
// and the name SRV records point at for it.
type target struct {
	owner string
	addr  netip.Addr
	port  int32
}

// inZone reports whether name belongs to the cluster zone.
func (r *resolver) inZone(name string) bool {
	return mdns.IsSubDomain(r.zone, strings.ToLower(name))
}

// resolve answers q, whose name must be inside the cluster zone.
func (r *resolver) resolve(ctx context.Context, q mdns.Question) result {
	return r.resolveChained(ctx, q, 0)
}

func (r *resolver) resolveChained(ctx context.Context, q mdns.Question, depth int) result {
	answer, additional, exists := r.lookup(ctx, q, depth)
	switch {
	case len(answer) > 0:
		return result{rcode: mdns.RcodeSuccess, answer: answer, additional: additional}
	case exists:
		return result{rcode: mdns.RcodeSuccess, authority: []mdns.RR{r.soa()}}
	case r.synced != nil && !r.synced():
		// Until the informers have synced, absence proves nothing.
		return result{rcode: mdns.RcodeServerFailure}
	default:
		return result{rcode: mdns.RcodeNameError, authority: []mdns.RR{r.soa()}}
	}
}

// lookup returns the records for q and whether its name exists at all
// (with any type), which separates NODATA from NXDOMAIN.
func (r *resolver) lookup(ctx context.Context, q mdns.Question, depth int) (answer, additional []mdns.RR, exists bool) {
	name := parseSchemaName(q.Name, r.zone)
	switch name.kind {
	case nameApex:
		switch q.Qtype {
		case mdns.TypeSOA:
			return []mdns.RR{r.soa()}, nil, true
		case mdns.TypeNS:
			answer, additional = r.nsRecords(q.Name)
			return answer, additional, true
		}
		return nil, nil, true
	case nameDNSVersion:
		if q.Qtype == mdns.TypeTXT {
			txt := &mdns.TXT{Hdr: header(q.Name, mdns.TypeTXT, dnsVersionTTL), Txt: []string{schemaVersion}}
			return []mdns.RR{txt}, nil, true
		}
		return nil, nil, true
	case nameDNSParent, nameTypeRoot:
		return nil, nil, true
	case nameNameServer:
		return addressRecords(q.Name, q.Qtype, r.nameServerTargets()), nil, true
	case nameNamespace:
		return nil, nil, r.model.namespaceExists(name.namespace)
	case namePod:
		ip, ok := podAddress(name.service)
		if !ok || !r.model.namespaceExists(name.namespace) {
			return nil, nil, false
		}
		return addressRecords(q.Name, q.Qtype, []target{{addr: ip}}), nil, true
	case nameService, nameEndpoint, namePort:
		return r.lookupService(ctx, q, name, depth)
	}
	return nil, nil, false
}

func (r *resolver) lookupService(ctx context.Context, q mdns.Question, name schemaName, depth int) (answer, additional []mdns.RR, exists bool) {
	svc := r.model.service(name.namespace, name.service)
	if svc == nil || !r.model.namespaceExists(name.namespace) {
		return nil, nil, false
	}
	if svc.externalName != "" {
		// An ExternalName Service is only its own name; it has no endpoints or ports.
		if name.kind != nameService {
			return nil, nil, false
		}
		return r.externalNameAnswer(ctx, q, svc.externalName, depth)
	}
	targets, found := r.serviceTargets(svc, name)
	if !found {
		// _<proto>.<svc>.<ns>.svc.<zone> is an empty non-terminal above the SRV names.
		return nil, nil, name.kind == nameEndpoint && servesProtocol(svc, name.endpoint)
	}
	switch q.Qtype {
	case mdns.TypeA, mdns.TypeAAAA:
		return addressRecords(q.Name, q.Qtype, targets), nil, true
	case mdns.TypeSRV:
		answer, additional = srvRecords(q.Name, targets)
		return answer, additional, true
	}
	return nil, nil, true
}

// serviceTargets lists what a service name resolves to, and whether the
// name exists: a ClusterIP Service resolves to its cluster IPs, a headless
// Service and any endpoint name to the ready endpoint addresses.
func (r *resolver) serviceTargets(svc *serviceRecord, name schemaName) ([]target, bool) {
	serviceName := svc.name + "." + svc.namespace + "." + labelSvc + "." + r.zone
	var targets []target
	found := false
	if !svc.headless && name.kind != nameEndpoint {
		for _, p := range svc.ports {
			if !portMatches(p, name) {
				continue
			}
			found = true
			for _, ip := range svc.clusterIPs {
				targets = append(targets, target{owner: serviceName, addr: ip, port: p.port})
			}
		}
		return targets, found
	}
	for _, ep := range r.model.endpoints(svc.namespace, svc.name) {
		label := endpointLabel(ep.endpointAddress)
		if name.kind == nameEndpoint && !strings.EqualFold(label, name.endpoint) {
			continue
		}
		for _, p := range ep.ports {
			if !portMatches(p, name) {
				continue
			}
			found = true
			targets = append(targets, target{owner: label + "." + serviceName, addr: ep.ip, port: p.port})
		}
	}
	return targets, found
}

// portMatches applies the _<port>._<proto> part of a name; names without
// it match every port.
func portMatches(p portInfo, name schemaName) bool {
	return (name.port == "" || strings.EqualFold(p.name, name.port)) &&
		(name.protocol == "" || strings.EqualFold(p.protocol, name.protocol))
}

func servesProtocol(svc *serviceRecord, label string) bool {
	proto, ok := strings.CutPrefix(label, "_")
	if !ok {
		return false
	}
	return slices.ContainsFunc(svc.ports, func(p portInfo) bool { return p.port >= 0 && strings.EqualFold(p.protocol, proto) })
}

// externalNameAnswer answers for an ExternalName Service: a CNAME to the
// external name followed, like CoreDNS, by the target's records, looked up
// inside the zone or through the upstream resolvers.
func (r *resolver) externalNameAnswer(ctx context.Context, q mdns.Question, externalName string, depth int) (answer, additional []mdns.RR, exists bool) {
	if _, err := netip.ParseAddr(externalName); err == nil {
		// CoreDNS publishes nothing for an address in externalName.
		return nil, nil, false
	}
	targetName := mdns.Fqdn(strings.ToLower(externalName))
	if targetName == strings.ToLower(q.Name) {
		return nil, nil, true
	}
	cname := &mdns.CNAME{Hdr: header(q.Name, mdns.TypeCNAME, recordTTL), Target: mdns.Fqdn(externalName)}
	answer = []mdns.RR{cname}
	if q.Qtype == mdns.TypeCNAME || depth >= maxCNAMEChain {
		return answer, nil, true
	}
	next := mdns.Question{Name: cname.Target, Qtype: q.Qtype, Qclass: q.Qclass}
	if r.inZone(next.Name) {
		res := r.resolveChained(ctx, next, depth+1)
		return append(answer, res.answer...), res.additional, true
	}
	if r.external != nil {
		answer = append(answer, r.external(ctx, next.Name, next.Qtype)...)
	}
	return answer, nil, true
}

// resolveReverse answers a PTR question for a cluster IP or an endpoint
// address. It reports false when the address is not the cluster's, so the
// question goes upstream as CoreDNS's default fallthrough sends it.
func (r *resolver) resolveReverse(q mdns.Question) (result, bool) {
	if q.Qtype != mdns.TypePTR {
		return result{}, false
	}
	ip, ok := reverseAddress(q.Name)
	if !ok {
		return result{}, false
	}
	var names []string
	for _, svc := range r.model.servicesWithIP(ip) {
		names = append(names, svc.name+"."+svc.namespace+"."+labelSvc+"."+r.zone)
	}
	if len(names) == 0 {
		for _, ep := range r.model.endpointsWithIP(ip) {
			names = append(names, ep.hostname+"."+ep.service+"."+ep.namespace+"."+labelSvc+"."+r.zone)
		}
	}
	if len(names) == 0 {
		return result{}, false
	}
	slices.Sort(names)
	names = slices.Compact(names)
	res := result{rcode: mdns.RcodeSuccess}
	for _, n := range names {
		res.answer = append(res.answer, &mdns.PTR{Hdr: header(q.Name, mdns.TypePTR, recordTTL), Ptr: n})
	}
	return res, true
}

// soa is the zone's SOA record, shaped like CoreDNS's.
func (r *resolver) soa() *mdns.SOA {
	return &mdns.SOA{
		Hdr:     header(r.zone, mdns.TypeSOA, recordTTL),
		Ns:      "ns.dns." + r.zone,
		Mbox:    "hostmaster." + r.zone,
		Serial:  r.model.serial(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  recordTTL,
	}
}

func (r *resolver) nameServerTargets() []target {
	out := make([]target, 0, len(r.nameServers))
	for _, ip := range r.nameServers {
		out = append(out, target{owner: "ns.dns." + r.zone, addr: ip})
	}
	return out
}

func (r *resolver) nsRecords(owner string) (answer, additional []mdns.RR) {
	nsName := "ns.dns." + r.zone
	answer = []mdns.RR{&mdns.NS{Hdr: header(owner, mdns.TypeNS, recordTTL), Ns: nsName}}
	for _, t := range r.nameServerTargets() {
		additional = append(additional, addressRecord(nsName, t.addr))
	}
	return answer, additional
}

func header(name string, rrtype uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: ttl}
}

// addressRecord is the A or AAAA record for ip.
func addressRecord(owner string, ip netip.Addr) mdns.RR {
	if ip.Is4() {
		return &mdns.A{Hdr: header(owner, mdns.TypeA, recordTTL), A: ip.AsSlice()}
	}
	return &mdns.AAAA{Hdr: header(owner, mdns.TypeAAAA, recordTTL), AAAA: ip.AsSlice()}
}

// addressRecords renders the targets of qtype's family under owner, once per address.
func addressRecords(owner string, qtype uint16, targets []target) []mdns.RR {
	if qtype != mdns.TypeA && qtype != mdns.TypeAAAA {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var out []mdns.RR
	for _, t := range targets {
		if t.addr.Is4() != (qtype == mdns.TypeA) || seen[t.addr] {
			continue
		}
		seen[t.addr] = true
		out = append(out, addressRecord(owner, t.addr))
	}
	return out
}

// srvRecords renders one SRV record per target name and port, weighted
// evenly like CoreDNS (100 split over all targets), with the targets'
// addresses as additional records.
func srvRecords(owner string, targets []target) (answer, additional []mdns.RR) {
	if len(targets) == 0 {
		return nil, nil
	}
	weight := uint16(max(1, 100/len(targets)))
	type srvKey struct {
		name string
		port int32
	}
	type addrKey struct {
		name string
		addr netip.Addr
	}
	seenSRV := map[srvKey]bool{}
	seenAddr := map[addrKey]bool{}
	for _, t := range targets {
		if t.port < 0 {
			continue
		}
		if k := (srvKey{t.owner, t.port}); !seenSRV[k] {
			seenSRV[k] = true
			answer = append(answer, &mdns.SRV{
				Hdr: header(owner, mdns.TypeSRV, recordTTL), Priority: 0, Weight: weight, Port: uint16(t.port), Target: t.owner,
			})
		}
		if k := (addrKey{t.owner, t.addr}); !seenAddr[k] {
			seenAddr[k] = true
			additional = append(additional, addressRecord(t.owner, t.addr))
		}
	}
	return answer, additional
}

// hasUpstreamRecords reports whether res, an answer from the zone, includes
// records from the upstream resolvers: those follow an ExternalName whose
// CNAME points outside the zone.
func (r *resolver) hasUpstreamRecords(res result) bool {
	for _, rr := range res.answer {
		if cname, ok := rr.(*mdns.CNAME); ok && !r.inZone(cname.Target) {
			return true
		}
	}
	return false
}
