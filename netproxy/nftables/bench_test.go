package nftables

import (
	"fmt"
	"net/netip"
	"testing"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
)

// benchServices is the size issue 5 sets its goals at: 10,000 Services
// with 5 endpoints each.
const (
	benchServices  = 10000
	benchEndpoints = 5
)

// benchState is benchServices ClusterIP service ports spread over 10
// nodes; shift moves the first port's first endpoint elsewhere, which is
// a one-endpoint change.
func benchState(shift int) *netproxy.State {
	st := proxytest.State()
	for i := range benchServices {
		sp := &netproxy.ServicePort{
			Name:       netproxy.ServicePortName{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i), Port: "http", Protocol: v1.ProtocolTCP},
			Protocol:   v1.ProtocolTCP,
			Port:       80,
			ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 43, byte(1 + i/250), byte(i % 250)})},
		}
		for j := range benchEndpoints {
			n := i*benchEndpoints + j
			if i == 0 && j == 0 {
				n += shift * 60000
			}
			node := n % 10
			sp.Endpoints = append(sp.Endpoints, netproxy.Endpoint{
				IP:       netip.AddrFrom4([4]byte{10, 42, byte(node*25 + (n/250)%25), byte(1 + n%250)}),
				Port:     8080,
				NodeName: fmt.Sprintf("node-%d", node),
				Local:    node == 0,
				Ready:    true, Serving: true,
			})
		}
		st.Services[sp.Name] = sp
	}
	return st
}

// benchBackend is a backend that has synced benchState(0) once inside a
// namespace of the benchmark's own.
func benchBackend(b testing.TB) (*proxytest.Netns, *Backend) {
	proxytest.SkipUnlessRoot(b, "creates a network namespace and writes nftables rules inside it", "ip")
	ns := proxytest.NewNetns(b, "kite-nftb-"+proxytest.RandomSuffix(b))
	var be *Backend
	if err := ns.Do(func() (err error) { be, err = New(Config{}); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ns.Do(be.Cleanup) })
	if err := ns.Do(func() error { return be.Sync(benchState(0), nil) }); err != nil {
		b.Fatalf("first full sync: %v", err)
	}
	return ns, be
}

// BenchmarkFullSync is the periodic resync: the whole table again, with
// unchanged inputs, until the kernel has applied it.
func BenchmarkFullSync(b *testing.B) {
	ns, be := benchBackend(b)
	state := benchState(0)
	b.ResetTimer()
	for range b.N {
		if err := ns.Do(func() error { return be.Sync(state, nil) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstFullSync builds the table from nothing with a new backend.
func BenchmarkFirstFullSync(b *testing.B) {
	ns, be := benchBackend(b)
	state := benchState(0)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := ns.Do(be.Cleanup); err != nil {
			b.Fatal(err)
		}
		fresh, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := ns.Do(func() error { return fresh.Sync(state, nil) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPartialSync moves one endpoint back and forth: a partial sync
// of one service port in a table of benchServices.
func BenchmarkPartialSync(b *testing.B) {
	ns, be := benchBackend(b)
	states := []*netproxy.State{benchState(1), benchState(0)}
	changed := map[netproxy.ServicePortName]bool{{Namespace: "bench", Name: "svc-0", Port: "http", Protocol: v1.ProtocolTCP}: true}
	b.ResetTimer()
	for i := range b.N {
		if err := ns.Do(func() error { return be.Sync(states[i%2], changed) }); err != nil {
			b.Fatal(err)
		}
	}
}
