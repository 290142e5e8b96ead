package cni

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRoutesController runs the controller against a fake API and a real
// kernel: a namespace "node A" linked by a veth pair to a namespace "node B".
func TestRoutesController(t *testing.T) {
	requireRoot(t)
	nsA, nsB := newNetns(t), newNetns(t)
	hA := netlinkHandle(t, nsA)
	hB := netlinkHandle(t, nsB)
	linkA := vethBetween(t, hA, hB, nsB, "192.168.77.1/24", "192.168.77.2/24")

	// A route that kite did not add, for a pod CIDR a node claims: it must
	// be left alone.
	foreign := &netlink.Route{Dst: mustCIDR("10.99.9.0/24"), Gw: net.ParseIP("192.168.77.2"), LinkIndex: linkA, Protocol: unix.RTPROT_STATIC}
	if err := hA.RouteAdd(foreign); err != nil {
		t.Fatal(err)
	}

	client := fake.NewClientset(
		testNode("a", []string{"10.99.1.0/24"}, internal("192.168.77.1")),
		testNode("b", []string{"10.99.2.0/24"}, internal("192.168.77.2")),
		testNode("far", []string{"10.99.3.0/24"}, internal("172.31.5.5")),
		testNode("clash", []string{"10.99.9.0/24"}, internal("192.168.77.3")),
	)
	routes, err := NewRoutes(RoutesConfig{Client: client, NodeName: "a", NetnsPath: nsA})
	if err != nil {
		t.Fatal(err)
	}
	defer routes.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- routes.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		}
	}
	defer stop()

	want := func(routes map[string]string) {
		t.Helper()
		waitForRoutes(t, hA, routes)
	}
	want(map[string]string{"10.99.2.0/24": "192.168.77.2"})

	// The node moves to another address: the route follows.
	updateNode(t, client, "b", func(n *corev1.Node) { n.Status.Addresses = []corev1.NodeAddress{internal("192.168.77.4")} })
	want(map[string]string{"10.99.2.0/24": "192.168.77.4"})

	// A new node joins.
	if _, err := client.CoreV1().Nodes().Create(context.Background(), testNode("c", []string{"10.99.4.0/24"}, internal("192.168.77.5")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want(map[string]string{"10.99.2.0/24": "192.168.77.4", "10.99.4.0/24": "192.168.77.5"})

	// Someone (or a link going down) removes our route: it comes back.
	if err := hA.RouteDel(&netlink.Route{Dst: mustCIDR("10.99.4.0/24"), Gw: net.ParseIP("192.168.77.5"), LinkIndex: linkA, Protocol: RouteProtocol}); err != nil {
		t.Fatal(err)
	}
	want(map[string]string{"10.99.2.0/24": "192.168.77.4", "10.99.4.0/24": "192.168.77.5"})

	// A node leaves: its route goes.
	if err := client.CoreV1().Nodes().Delete(context.Background(), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want(map[string]string{"10.99.4.0/24": "192.168.77.5"})

	// Stopping leaves the routes in place; Cleanup removes ours only.
	stop()
	want(map[string]string{"10.99.4.0/24": "192.168.77.5"})
	if err := routes.Cleanup(); err != nil {
		t.Fatal(err)
	}
	want(map[string]string{})
	if got := kiteOrStaticRoutes(t, hA, unix.RTPROT_STATIC); len(got) != 1 || got["10.99.9.0/24"] != "192.168.77.2" {
		t.Errorf("foreign route changed: %v", got)
	}
}

// netlinkHandle opens a netlink handle inside the namespace at path.
func netlinkHandle(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// vethBetween links two namespaces with a veth pair, addresses and brings
// up both ends (and lo), and returns the index of the end in hA.
func vethBetween(t *testing.T, hA, hB *netlink.Handle, pathB, addrA, addrB string) int {
	t.Helper()
	nsB, err := netns.GetFromPath(pathB)
	if err != nil {
		t.Fatal(err)
	}
	defer nsB.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vetha"}, PeerName: "vethb", PeerNamespace: netlink.NsFd(nsB)}
	if err := hA.LinkAdd(veth); err != nil {
		t.Fatalf("create veth pair: %v", err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{hA, "vetha", addrA}, {hB, "vethb", addrB}} {
		link, err := side.h.LinkByName(side.name)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := netlink.ParseAddr(side.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := side.h.AddrAdd(link, addr); err != nil {
			t.Fatal(err)
		}
		if err := side.h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	link, err := hA.LinkByName("vetha")
	if err != nil {
		t.Fatal(err)
	}
	return link.Attrs().Index
}

func updateNode(t *testing.T, client *fake.Clientset, name string, edit func(*corev1.Node)) {
	t.Helper()
	node, err := client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit(node)
	if _, err := client.CoreV1().Nodes().Update(context.Background(), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// kiteOrStaticRoutes lists the main table's routes of one protocol as
// destination -> gateway.
func kiteOrStaticRoutes(t *testing.T, h *netlink.Handle, proto netlink.RouteProtocol) map[string]string {
	t.Helper()
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: proto}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range routes {
		got[r.Dst.String()] = r.Gw.String()
	}
	return got
}

// waitForRoutes waits up to 10 s for kite's routes to be exactly want.
func waitForRoutes(t *testing.T, h *netlink.Handle, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := kiteOrStaticRoutes(t, h, RouteProtocol)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kite routes = %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
