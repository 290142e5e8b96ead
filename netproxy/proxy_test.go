package netproxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// syncCall is one Backend.Sync the proxy made.
type syncCall struct {
	at      time.Time
	state   *State
	changed map[ServicePortName]bool // nil for a full sync
}

// recordingBackend keeps every Sync call and can be told to fail.
type recordingBackend struct {
	mu    sync.Mutex
	calls []syncCall
	fail  int // fail this many upcoming syncs
	seen  chan struct{}
}

func newRecordingBackend() *recordingBackend {
	return &recordingBackend{seen: make(chan struct{}, 100)}
}

func (b *recordingBackend) Sync(state *State, changed map[ServicePortName]bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, syncCall{at: time.Now(), state: state, changed: changed})
	b.seen <- struct{}{}
	if b.fail > 0 {
		b.fail--
		return errors.New("injected failure")
	}
	return nil
}

func (b *recordingBackend) Cleanup() error { return nil }

// waitCalls waits (bounded) until at least n syncs happened.
func (b *recordingBackend) waitCalls(t *testing.T, n int) []syncCall {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		if len(b.calls) >= n {
			out := slices.Clone(b.calls)
			b.mu.Unlock()
			return out
		}
		b.mu.Unlock()
		select {
		case <-b.seen:
		case <-deadline:
			t.Fatalf("waited 10s for sync #%d", n)
		}
	}
}

func changedNames(c map[ServicePortName]bool) []string {
	var out []string
	for n := range c {
		out = append(out, n.String())
	}
	slices.Sort(out)
	return out
}

func startProxy(t *testing.T, client *fake.Clientset, backend Backend, minSync time.Duration, localIPs ...net.IP) {
	t.Helper()
	p, err := New(Config{Client: client, NodeName: thisNode, MinSyncPeriod: minSync, FullSyncPeriod: time.Hour, LocalServiceIPs: localIPs}, backend)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func TestProxySyncsOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	httpPorts := []discoveryv1.EndpointPort{slicePortSpec("http", 8080, v1.ProtocolTCP)}
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: thisNode},
		Status: v1.NodeStatus{Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "192.168.5.10"}, {Type: v1.NodeHostName, Address: "a"}}}}
	client := fake.NewClientset(
		node,
		service("web", "10.43.0.5", []v1.ServicePort{svcPort("http", 80, v1.ProtocolTCP)}),
		slice("web", "web-1", httpPorts, readyEp("10.42.0.2", thisNode)),
		service("db", "10.43.0.6", []v1.ServicePort{svcPort("sql", 5432, v1.ProtocolTCP)}),
	)
	backend := newRecordingBackend()
	startProxy(t, client, backend, 20*time.Millisecond)

	first := backend.waitCalls(t, 1)[0]
	if first.changed != nil {
		t.Fatalf("first sync changed = %v, want a full sync (nil)", changedNames(first.changed))
	}
	web := ServicePortName{Namespace: "ns", Name: "web", Port: "http", Protocol: v1.ProtocolTCP}
	if got := endpointStrings(first.state.Services[web].Endpoints); !slices.Equal(got, []string{"10.42.0.2:8080"}) {
		t.Errorf("first sync endpoints of %s = %v", web, got)
	}
	if !slices.Equal(first.state.NodeIPs, []netip.Addr{addr("192.168.5.10")}) {
		t.Errorf("node IPs = %v, want the Node's InternalIP", first.state.NodeIPs)
	}
	if len(first.state.Services) != 2 {
		t.Errorf("first sync has %d service ports, want 2", len(first.state.Services))
	}

	// A new endpoint for web changes web only.
	updated := slice("web", "web-1", httpPorts, readyEp("10.42.0.2", thisNode), readyEp("10.42.1.3", "node-b"))
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := backend.waitCalls(t, 2)[1]
	if got := changedNames(second.changed); !slices.Equal(got, []string{"ns/web:http"}) {
		t.Errorf("after slice update changed = %v, want [ns/web:http]", got)
	}
	if got := endpointStrings(second.state.Services[web].Endpoints); len(got) != 2 {
		t.Errorf("endpoints after update = %v, want 2", got)
	}
	// The state handed out earlier is never modified afterwards.
	if got := endpointStrings(first.state.Services[web].Endpoints); len(got) != 1 {
		t.Errorf("first state was modified: %v", got)
	}

	// Deleting db names db, and the state no longer holds it.
	if err := client.CoreV1().Services("ns").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	third := backend.waitCalls(t, 3)[2]
	if got := changedNames(third.changed); !slices.Equal(got, []string{"ns/db:sql"}) {
		t.Errorf("after delete changed = %v, want [ns/db:sql]", got)
	}
	if _, ok := third.state.Services[ServicePortName{Namespace: "ns", Name: "db", Port: "sql", Protocol: v1.ProtocolTCP}]; ok {
		t.Error("deleted service still in state")
	}

	// A Node heartbeat that changes nothing the proxy uses syncs nothing;
	// a later real change is the next sync.
	node.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services("ns").Create(ctx, service("api", "10.43.0.7", []v1.ServicePort{svcPort("", 443, v1.ProtocolTCP)}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fourth := backend.waitCalls(t, 4)[3]
	if got := changedNames(fourth.changed); !slices.Equal(got, []string{"ns/api"}) {
		t.Errorf("after create changed = %v, want [ns/api]", got)
	}
}

func TestProxyLeavesLocallyServedIPsAlone(t *testing.T) {
	client := fake.NewClientset(
		service("kube-dns", "10.43.0.10", []v1.ServicePort{svcPort("dns", 53, v1.ProtocolUDP), svcPort("dns-tcp", 53, v1.ProtocolTCP)}),
		service("web", "10.43.0.5", []v1.ServicePort{svcPort("http", 80, v1.ProtocolTCP)}),
	)
	backend := newRecordingBackend()
	startProxy(t, client, backend, 20*time.Millisecond, net.ParseIP("10.43.0.10"))
	first := backend.waitCalls(t, 1)[0]
	var names []string
	for name := range first.state.Services {
		names = append(names, name.String())
	}
	if !slices.Equal(names, []string{"ns/web:http"}) {
		t.Errorf("service ports = %v, want only ns/web:http (10.43.0.10 is answered on the node)", names)
	}
}

func TestProxyRateLimitsAndRetriesFull(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	backend := newRecordingBackend()
	const minSync = 300 * time.Millisecond
	startProxy(t, client, backend, minSync)
	backend.waitCalls(t, 1)

	// Two changes in quick succession right after a sync are applied
	// together, no sooner than minSync after it.
	for _, name := range []string{"one", "two"} {
		if _, err := client.CoreV1().Services("ns").Create(ctx, service(name, "10.43.1.1", []v1.ServicePort{svcPort("", 80, v1.ProtocolTCP)}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	calls := backend.waitCalls(t, 2)
	if gap := calls[1].at.Sub(calls[0].at); gap < minSync {
		t.Errorf("second sync came %v after the first, want at least %v", gap, minSync)
	}
	// Both creations arrive well within minSync; they must be batched.
	if got := changedNames(calls[1].changed); !slices.Equal(got, []string{"ns/one", "ns/two"}) {
		t.Errorf("batched sync changed = %v, want [ns/one ns/two]", got)
	}

	// A failed sync is retried as a full sync.
	backend.mu.Lock()
	backend.fail = 1
	n := len(backend.calls)
	backend.mu.Unlock()
	if err := client.CoreV1().Services("ns").Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	calls = backend.waitCalls(t, n+2)
	if calls[n].changed == nil {
		t.Errorf("failing sync should have been partial")
	}
	if calls[n+1].changed != nil {
		t.Errorf("retry after failure changed = %v, want a full sync", changedNames(calls[n+1].changed))
	}
	if _, ok := calls[n+1].state.Services[ServicePortName{Namespace: "ns", Name: "one", Protocol: v1.ProtocolTCP}]; ok {
		t.Error("retry still holds the deleted service")
	}
}

func TestProxyPeriodicFullSync(t *testing.T) {
	client := fake.NewClientset(service("web", "10.43.0.5", []v1.ServicePort{svcPort("", 80, v1.ProtocolTCP)}))
	backend := newRecordingBackend()
	_, podNet, _ := net.ParseCIDR("10.42.0.0/16")
	p, err := New(Config{Client: client, NodeName: thisNode, NodeIPs: []net.IP{net.ParseIP("192.168.5.11")},
		ClusterCIDRs: []*net.IPNet{podNet}, MinSyncPeriod: 10 * time.Millisecond, FullSyncPeriod: 100 * time.Millisecond}, backend)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// Nothing changes, yet the backend is asked to rewrite everything
	// again and again, which repairs rules someone else removed.
	calls := backend.waitCalls(t, 3)
	for i, c := range calls[:3] {
		if c.changed != nil {
			t.Errorf("sync %d changed = %v, want a full sync", i, changedNames(c.changed))
		}
		if len(c.state.Services) != 1 {
			t.Errorf("sync %d has %d service ports, want 1", i, len(c.state.Services))
		}
		if !slices.Equal(c.state.ClusterCIDRs, []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16")}) ||
			!slices.Equal(c.state.NodeIPs, []netip.Addr{addr("192.168.5.11")}) {
			t.Errorf("sync %d cluster CIDRs %v node IPs %v, want the configured ones", i, c.state.ClusterCIDRs, c.state.NodeIPs)
		}
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	client := fake.NewClientset()
	tests := []struct {
		name    string
		cfg     Config
		backend Backend
	}{
		{"no client", Config{NodeName: thisNode}, newRecordingBackend()},
		{"no node name", Config{Client: client}, newRecordingBackend()},
		{"no backend", Config{Client: client, NodeName: thisNode}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.backend); err == nil {
				t.Error("New accepted an incomplete config")
			}
		})
	}
}

// With the node's addresses configured the Node is not watched: they are
// the state's NodeIPs, and a Node that says otherwise changes nothing.
func TestProxyConfiguredNodeIPs(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: thisNode},
		Status: v1.NodeStatus{Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "192.168.5.10"}}}}
	client := fake.NewClientset(node, service("web", "10.43.0.5", []v1.ServicePort{svcPort("http", 80, v1.ProtocolTCP)}))
	backend := newRecordingBackend()
	p, err := New(Config{Client: client, NodeName: thisNode, NodeIPs: []net.IP{net.ParseIP("10.0.0.7")}, MinSyncPeriod: 20 * time.Millisecond, FullSyncPeriod: time.Hour}, backend)
	if err != nil {
		t.Fatal(err)
	}
	if p.watch.nodes != nil {
		t.Error("the Node is watched although its addresses are configured")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = p.Run(ctx) }()
	first := backend.waitCalls(t, 1)[0]
	if !slices.Equal(first.state.NodeIPs, []netip.Addr{addr("10.0.0.7")}) {
		t.Errorf("node IPs = %v, want the configured 10.0.0.7", first.state.NodeIPs)
	}
}
