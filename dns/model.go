package dns

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// objectKey names a namespaced object in the model.
type objectKey struct {
	namespace string
	name      string
}

// portInfo is one named port of a Service or an EndpointSlice. port is -1
// when the object declares no ports, so name lookups still find it while SRV
// answers skip it.
type portInfo struct {
	name     string
	protocol string
	port     int32
}

// serviceRecord is what DNS needs from a Service. Records are never mutated
// after they enter the model, so readers may keep them past the lock.
type serviceRecord struct {
	namespace    string
	name         string
	headless     bool
	externalName string
	clusterIPs   []netip.Addr
	ports        []portInfo
}

// endpointAddress is one ready address of an EndpointSlice.
type endpointAddress struct {
	ip       netip.Addr
	hostname string
}

// sliceRecord is what DNS needs from an EndpointSlice: the owning Service,
// the ready addresses and the ports they serve.
type sliceRecord struct {
	namespace string
	service   string
	addresses []endpointAddress
	ports     []portInfo
}

// endpoint is a ready address of a Service, with the ports of its slice.
type endpoint struct {
	endpointAddress
	ports []portInfo
}

// endpointOwner names a Service an endpoint address belongs to, for PTR.
type endpointOwner struct {
	hostname  string
	service   string
	namespace string
}

// model is the in-memory view of the cluster that answers DNS questions. It
// is fed by informer events and read by the resolver.
type model struct {
	mu              sync.RWMutex
	namespaces      map[string]struct{}
	services        map[objectKey]*serviceRecord
	slices          map[objectKey]*sliceRecord
	slicesByService map[objectKey]map[objectKey]struct{}
	servicesByIP    map[netip.Addr]map[objectKey]struct{}
	slicesByIP      map[netip.Addr]map[objectKey]struct{}
	modified        time.Time
	// changes counts the changes applied; caches of answers built from the
	// model are valid only while it stays the same.
	changes atomic.Uint64
}

func newModel() *model {
	return &model{
		namespaces:      map[string]struct{}{},
		services:        map[objectKey]*serviceRecord{},
		slices:          map[objectKey]*sliceRecord{},
		slicesByService: map[objectKey]map[objectKey]struct{}{},
		servicesByIP:    map[netip.Addr]map[objectKey]struct{}{},
		slicesByIP:      map[netip.Addr]map[objectKey]struct{}{},
		modified:        time.Now(),
	}
}

func addToIndex[K comparable](index map[K]map[objectKey]struct{}, k K, v objectKey) {
	set := index[k]
	if set == nil {
		set = map[objectKey]struct{}{}
		index[k] = set
	}
	set[v] = struct{}{}
}

func removeFromIndex[K comparable](index map[K]map[objectKey]struct{}, k K, v objectKey) {
	set := index[k]
	delete(set, v)
	if len(set) == 0 {
		delete(index, k)
	}
}

func (m *model) setNamespace(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.namespaces[name] = struct{}{}
	m.changed()
}

func (m *model) deleteNamespace(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.namespaces, name)
	m.changed()
}

func (m *model) setService(svc *serviceRecord) {
	key := objectKey{svc.namespace, svc.name}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeServiceLocked(key)
	m.services[key] = svc
	for _, ip := range svc.clusterIPs {
		addToIndex(m.servicesByIP, ip, key)
	}
	m.changed()
}

func (m *model) deleteService(key objectKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeServiceLocked(key)
	m.changed()
}

func (m *model) removeServiceLocked(key objectKey) {
	old := m.services[key]
	if old == nil {
		return
	}
	for _, ip := range old.clusterIPs {
		removeFromIndex(m.servicesByIP, ip, key)
	}
	delete(m.services, key)
}

// setSlice stores the slice called key (namespace and slice name).
func (m *model) setSlice(key objectKey, slice *sliceRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeSliceLocked(key)
	m.slices[key] = slice
	addToIndex(m.slicesByService, objectKey{slice.namespace, slice.service}, key)
	for _, a := range slice.addresses {
		addToIndex(m.slicesByIP, a.ip, key)
	}
	m.changed()
}

func (m *model) deleteSlice(key objectKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeSliceLocked(key)
	m.changed()
}

func (m *model) removeSliceLocked(key objectKey) {
	old := m.slices[key]
	if old == nil {
		return
	}
	removeFromIndex(m.slicesByService, objectKey{old.namespace, old.service}, key)
	for _, a := range old.addresses {
		removeFromIndex(m.slicesByIP, a.ip, key)
	}
	delete(m.slices, key)
}

func (m *model) namespaceExists(name string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.namespaces[name]
	return ok
}

func (m *model) service(namespace, name string) *serviceRecord {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.services[objectKey{namespace, name}]
}

// endpoints returns the ready addresses of a Service merged over all its
// slices. An address present in several slices (as happens while the
// controller moves endpoints between slices) appears once per slice; the
// resolver removes duplicates when it builds records.
func (m *model) endpoints(namespace, service string) []endpoint {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []endpoint
	for key := range m.slicesByService[objectKey{namespace, service}] {
		slice := m.slices[key]
		for _, a := range slice.addresses {
			out = append(out, endpoint{endpointAddress: a, ports: slice.ports})
		}
	}
	return out
}

// servicesWithIP returns the Services whose cluster IPs include ip.
func (m *model) servicesWithIP(ip netip.Addr) []*serviceRecord {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*serviceRecord
	for key := range m.servicesByIP[ip] {
		out = append(out, m.services[key])
	}
	return out
}

// endpointsWithIP returns the Services and hostnames of endpoints at ip.
func (m *model) endpointsWithIP(ip netip.Addr) []endpointOwner {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []endpointOwner
	for key := range m.slicesByIP[ip] {
		slice := m.slices[key]
		for _, a := range slice.addresses {
			if a.ip == ip {
				out = append(out, endpointOwner{hostname: endpointLabel(a), service: slice.service, namespace: slice.namespace})
			}
		}
	}
	return out
}

// serial is the SOA serial: the time of the last change, as CoreDNS reports.
func (m *model) serial() uint32 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return uint32(m.modified.Unix())
}

// changed records a change; the caller holds the write lock.
func (m *model) changed() {
	m.modified = time.Now()
	m.changes.Add(1)
}

// generation identifies the model's state: it moves on every change. Read
// it before resolving, so an answer is never tagged newer than its data.
func (m *model) generation() uint64 {
	return m.changes.Load()
}
