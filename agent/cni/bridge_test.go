package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
)

// TestBridgeNetworkEndToEnd attaches a fake pod to the kite network with the
// real plugins, as containerd would, inside throwaway namespaces: one plays
// the node, one the pod, one the network next to the node. With Masquerade
// in place, it checks which source address each kind of traffic carries.
func TestBridgeNetworkEndToEnd(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat(filepath.Join(PluginDirs[0], "bridge")); err != nil {
		t.Skipf("CNI plugins not installed in %s", PluginDirs[0])
	}
	nodeNS, podNS, outsideNS := newNetns(t), newNetns(t), newNetns(t)
	_, podCIDR, _ := net.ParseCIDR("10.99.7.0/24")
	gateway := net.ParseIP("10.99.7.1")

	confDir, dataDir := t.TempDir(), t.TempDir()
	if err := WriteConfig(confDir, Config{PodCIDR: podCIDR.String(), ClusterCIDR: "10.99.0.0/16", MTU: 1400, HostLocalDataDir: dataDir}); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromFile(filepath.Join(confDir, ConfFileName))
	if err != nil {
		t.Fatal(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(PluginDirs, t.TempDir(), nil)
	rt := &libcni.RuntimeConf{
		ContainerID: "kite-test-pod",
		NetNS:       podNS,
		IfName:      "eth0",
		CapabilityArgs: map[string]any{
			"portMappings": []map[string]any{{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The plugins run as child processes of a thread inside the node
	// namespace, so the bridge, veth host ends and portmap rules land there.
	var podIP net.IP
	err = inNetns(t, nodeNS, func() error {
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return fmt.Errorf("ADD: %w", err)
		}
		result, err := types100.NewResultFromResult(res)
		if err != nil {
			return err
		}
		if len(result.IPs) != 1 {
			return fmt.Errorf("result has %d IPs, want 1: %v", len(result.IPs), result)
		}
		podIP = result.IPs[0].Address.IP
		if !result.IPs[0].Gateway.Equal(gateway) {
			return fmt.Errorf("gateway = %v, want %v", result.IPs[0].Gateway, gateway)
		}
		bridge, err := netlink.LinkByName(BridgeName)
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		if bridge.Attrs().MTU != 1400 {
			return fmt.Errorf("bridge MTU %d, want 1400", bridge.Attrs().MTU)
		}
		return checkHairpin(bridge.Attrs().Index)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !podCIDR.Contains(podIP) || podIP.Equal(gateway) {
		t.Fatalf("pod IP %v is not a pod address in %v", podIP, podCIDR)
	}
	if _, err := os.Stat(filepath.Join(dataDir, NetworkName, podIP.String())); err != nil {
		t.Errorf("host-local did not record the allocation: %v", err)
	}

	// "outside" is a machine next to the node: a host beyond the cluster at
	// 172.31.250.2, and also, on its lo, a pod 10.99.8.1 of another node
	// whose pod CIDR the node routes through it.
	hNode, hOutside := netlinkHandle(t, nodeNS), netlinkHandle(t, outsideNS)
	link := vethBetween(t, hNode, hOutside, outsideNS, "172.31.250.1/24", "172.31.250.2/24")
	otherPod, _ := netlink.ParseAddr("10.99.8.1/32")
	lo, err := hOutside.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{
		hOutside.AddrAdd(lo, otherPod),
		hOutside.LinkSetUp(lo),
		hOutside.RouteAdd(&netlink.Route{Dst: mustCIDR("10.99.0.0/16"), Gw: net.ParseIP("172.31.250.1")}),
		hNode.RouteAdd(&netlink.Route{Dst: mustCIDR("10.99.8.0/24"), Gw: net.ParseIP("172.31.250.2"), LinkIndex: link}),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	err = inNetns(t, nodeNS, func() error {
		m, err := NewMasquerade("10.99.0.0/16")
		if err != nil {
			return err
		}
		return m.Setup()
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("pod reaches gateway", func(t *testing.T) {
		peer := connectAcross(t, nodeNS, net.JoinHostPort(gateway.String(), "0"), podNS, "")
		if !peer.Equal(podIP) {
			t.Errorf("node saw the pod's connection from %v, want the pod IP %v (no masquerade on the bridge)", peer, podIP)
		}
	})
	t.Run("pod reaching outside is masqueraded", func(t *testing.T) {
		peer := connectAcross(t, outsideNS, "172.31.250.2:0", podNS, "")
		if !peer.Equal(net.ParseIP("172.31.250.1")) {
			t.Errorf("outside host saw the pod's connection from %v, want the node's address 172.31.250.1", peer)
		}
	})
	t.Run("pod reaching another node's pod keeps its address", func(t *testing.T) {
		peer := connectAcross(t, outsideNS, "10.99.8.1:0", podNS, "")
		if !peer.Equal(podIP) {
			t.Errorf("other pod saw the connection from %v, want the pod IP %v", peer, podIP)
		}
	})
	t.Run("host port reaches pod", func(t *testing.T) {
		// Locally originated traffic to a node address on the host port is
		// DNATed by portmap's OUTPUT rules to the pod's port.
		connectAcross(t, podNS, net.JoinHostPort(podIP.String(), "8080"), nodeNS, net.JoinHostPort(gateway.String(), "18080"))
	})

	err = inNetns(t, nodeNS, func() error { return cni.DelNetworkList(ctx, list, rt) })
	if err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, NetworkName, podIP.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DEL did not release the pod IP (stat: %v)", err)
	}
	err = inNetns(t, podNS, func() error {
		if _, err := netlink.LinkByName("eth0"); err == nil {
			return errors.New("pod interface eth0 still exists after DEL")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// connectAcross listens on listenAddr inside listenNS, dials it (or dialAddr
// when given) from inside dialNS, exchanges a line and returns the address
// the listener saw the connection come from.
func connectAcross(t *testing.T, listenNS, listenAddr, dialNS, dialAddr string) net.IP {
	t.Helper()
	var ln net.Listener
	// A socket stays in the namespace it was created in, so it can be
	// served from any thread afterwards.
	err := inNetns(t, listenNS, func() (err error) {
		ln, err = net.Listen("tcp", listenAddr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s: %v", listenAddr, err)
	}
	defer ln.Close()
	if dialAddr == "" {
		dialAddr = ln.Addr().String()
	}
	accepted := make(chan net.Addr, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte("hello\n"))
		accepted <- conn.RemoteAddr()
	}()
	err = inNetns(t, dialNS, func() error {
		conn, err := net.DialTimeout("tcp", dialAddr, 10*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 6)
		if _, err := conn.Read(buf); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if string(buf) != "hello\n" {
			return fmt.Errorf("read %q", buf)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dial %s: %v", dialAddr, err)
	}
	select {
	case addr := <-accepted:
		if addr == nil {
			t.Fatal("accept failed")
		}
		host, _, _ := net.SplitHostPort(addr.String())
		return net.ParseIP(host)
	case <-time.After(10 * time.Second):
		t.Fatal("listener never accepted")
	}
	return nil
}

// checkHairpin confirms that the pod's port on the bridge has hairpin mode
// on, so a pod can reach itself through a Service.
func checkHairpin(bridgeIndex int) error {
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	for _, l := range links {
		a := l.Attrs()
		if a.MasterIndex != bridgeIndex {
			continue
		}
		info, err := netlink.LinkGetProtinfo(l)
		if err != nil {
			return fmt.Errorf("bridge port %s: %w", a.Name, err)
		}
		if !info.Hairpin {
			return fmt.Errorf("bridge port %s has hairpin mode off", a.Name)
		}
		return nil
	}
	return errors.New("no pod port on the bridge")
}
