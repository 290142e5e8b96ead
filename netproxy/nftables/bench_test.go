package nftables

import (
	"testing"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
	"kite/test/proxyscale"
)

// benchServices is the size issue 5 sets its goals at: 10,000 Services
// with 5 endpoints each.
const (
	benchServices  = 10000
	benchEndpoints = 5
)

// benchState is the benchmark's state; shift 1 is shift 0 after a
// one-endpoint change.
func benchState(shift int) *netproxy.State {
	return proxyscale.State(benchServices, benchEndpoints, shift)
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
	changed := map[netproxy.ServicePortName]bool{proxyscale.Name(0): true}
	b.ResetTimer()
	for i := range b.N {
		if err := ns.Do(func() error { return be.Sync(states[i%2], changed) }); err != nil {
			b.Fatal(err)
		}
	}
}
