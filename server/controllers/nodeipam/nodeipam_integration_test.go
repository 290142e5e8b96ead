package nodeipam_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kite/server/controllers"
	"kite/server/controllers/controllertest"
	"kite/server/controllers/nodeipam"
)

// twoSubnets is a cluster CIDR with room for two nodes.
func twoSubnets(t *testing.T) nodeipam.Config {
	_, cluster, _ := net.ParseCIDR("10.42.0.0/23")
	_, service, _ := net.ParseCIDR("10.43.0.0/16")
	cfg := nodeipam.Config{ClusterCIDRs: []*net.IPNet{cluster}, ServiceCIDRs: []*net.IPNet{service}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// term runs one leadership term of the controller until stop is called.
func term(cc *controllers.Context, cfg nodeipam.Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cc.Run(ctx, nodeipam.New(cc, cfg))
	}()
	return func() {
		cancel()
		<-done
	}
}

func createNode(t *testing.T, c kubernetes.Interface, name, podCIDR string) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if podCIDR != "" {
		node.Spec.PodCIDR, node.Spec.PodCIDRs = podCIDR, []string{podCIDR}
	}
	if _, err := c.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node %s: %v", name, err)
	}
}

func deleteNode(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if err := c.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting node %s: %v", name, err)
	}
}

// waitCIDR waits until node name has a pod CIDR (spec.podCIDR and the
// same single spec.podCIDRs) and returns it.
func waitCIDR(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	var got string
	controllertest.Eventually(t, "pod CIDR of node "+name, func() (bool, string) {
		node, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = node.Spec.PodCIDR
		ok := got != "" && len(node.Spec.PodCIDRs) == 1 && node.Spec.PodCIDRs[0] == got
		return ok, fmt.Sprintf("podCIDR %q podCIDRs %v", node.Spec.PodCIDR, node.Spec.PodCIDRs)
	})
	return got
}

func podCIDROf(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	node, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return node.Spec.PodCIDR
}

// TestIntegrationNodeIPAM: nodes get distinct /24s; a node that finds the
// range full gets upstream's CIDRNotAvailable event and its subnet once
// another node is deleted; a new leader rebuilds its view from the Nodes
// and hands out nothing that is taken, including pod CIDRs set by hand.
func TestIntegrationNodeIPAM(t *testing.T) {
	s, cc := controllertest.Start(t)
	c := s.Client
	cfg := twoSubnets(t)
	stop := term(cc, cfg)

	createNode(t, c, "a", "")
	createNode(t, c, "b", "")
	a, b := waitCIDR(t, c, "a"), waitCIDR(t, c, "b")
	if a == b || !cfg.ClusterCIDRs[0].Contains(net.ParseIP(a[:len(a)-3])) || !cfg.ClusterCIDRs[0].Contains(net.ParseIP(b[:len(b)-3])) {
		t.Fatalf("nodes got %s and %s; want two distinct subnets of %s", a, b, cfg.ClusterCIDRs[0])
	}

	createNode(t, c, "c", "")
	controllertest.Eventually(t, "CIDRNotAvailable event for node c", func() (bool, string) {
		evs := controllertest.EventsAbout(t, c, metav1.NamespaceDefault, "c")
		for _, e := range evs {
			if e.Reason == "CIDRNotAvailable" && e.Type == corev1.EventTypeNormal && e.Note == "Node c status is now: CIDRNotAvailable" && e.Regarding.Kind == "Node" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("events: %+v", evs)
	})
	if got := podCIDROf(t, c, "c"); got != "" {
		t.Fatalf("node c got %s from a full range", got)
	}

	deleteNode(t, c, "a")
	if got := waitCIDR(t, c, "c"); got != a {
		t.Fatalf("node c got %s; want %s, released by node a", got, a)
	}

	// Leader change: the next term starts from the Nodes as stored.
	stop()
	createNode(t, c, "d", "")
	stop = term(cc, cfg)
	defer stop()
	deleteNode(t, c, "b")
	if got := waitCIDR(t, c, "d"); got != b {
		t.Fatalf("node d got %s; want %s, the only free subnet", got, b)
	}

	// A pod CIDR set by hand is respected and counted as taken.
	deleteNode(t, c, "c")
	createNode(t, c, "manual", a)
	createNode(t, c, "e", "")
	controllertest.Eventually(t, "CIDRNotAvailable event for node e", func() (bool, string) {
		for _, e := range controllertest.EventsAbout(t, c, metav1.NamespaceDefault, "e") {
			if e.Reason == "CIDRNotAvailable" {
				return true, ""
			}
		}
		return false, "no event"
	})
	if got := podCIDROf(t, c, "e"); got != "" {
		t.Fatalf("node e got %s, which node manual holds", got)
	}
	if got := podCIDROf(t, c, "manual"); got != a {
		t.Fatalf("node manual's pod CIDR changed to %s", got)
	}
	if _, err := c.CoreV1().Nodes().Get(context.Background(), "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("node a still exists: %v", err)
	}
}
