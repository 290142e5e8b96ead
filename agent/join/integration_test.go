package join_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kite/agent/join"
	"kite/server/servertest"
)

// TestJoinRealServer joins an in-process kite server and uses the
// credentials as the node would.
func TestJoinRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole server")
	}
	s := servertest.Start(t)
	secret := s.Running.Token[strings.LastIndex(s.Running.Token, ":")+1:]

	for _, tc := range []struct{ name, token, node string }{
		{"full token", s.Running.Token, "worker-1"},
		{"bare secret", secret, "worker-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			creds, err := join.Join(ctx, join.Options{
				ServerURL: s.Running.URL,
				Token:     tc.token,
				NodeName:  tc.node,
				NodeIPs:   []net.IP{net.ParseIP("10.0.0.5")},
				Hostnames: []string{tc.node},
				Dir:       filepath.Join(t.TempDir(), "agent"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if creds.ClusterCIDR != "10.42.0.0/16" || creds.ServiceCIDR != "10.43.0.0/16" || creds.ClusterDNS != "10.43.0.10" || creds.ClusterDomain != "cluster.local" {
				t.Errorf("cluster settings = %+v", creds)
			}
			// As system:node:<name> the node may register its own Node.
			client, err := kubernetes.NewForConfig(creds.RestConfig)
			if err != nil {
				t.Fatal(err)
			}
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: tc.node}}
			if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
				t.Fatalf("node registers itself: %v", err)
			}
			if _, err := s.Client.CoreV1().Nodes().Get(ctx, tc.node, metav1.GetOptions{}); err != nil {
				t.Errorf("admin does not see the node: %v", err)
			}
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		token := s.Running.Token[:strings.LastIndex(s.Running.Token, ":")+1] + "wrong"
		_, err := join.Join(ctx, join.Options{ServerURL: s.Running.URL, Token: token, NodeName: "intruder", Dir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "the server refused the join token (check --token)") {
			t.Errorf("err = %v, want the refused-token error", err)
		}
	})
}
