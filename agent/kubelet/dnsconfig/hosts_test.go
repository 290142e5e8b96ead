package dnsconfig

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const localEntries = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func TestWriteHosts(t *testing.T) {
	nodeHosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(nodeHosts, []byte("127.0.0.1\tlocalhost\n192.168.1.5\tnode-a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := nodeHostsFile
	nodeHostsFile = nodeHosts
	t.Cleanup(func() { nodeHostsFile = old })

	aliases := []v1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"foo.local", "bar.local"}}}
	tests := []struct {
		name string
		pod  v1.Pod
		ips  []string
		want string
	}{
		{
			name: "plain",
			pod:  v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}},
			ips:  []string{"10.42.0.7"},
			want: localEntries + "10.42.0.7\tweb-0\n",
		},
		{
			name: "subdomain, dual stack, aliases",
			pod:  v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}, Spec: v1.PodSpec{Hostname: "web", Subdomain: "nodes", HostAliases: aliases}},
			ips:  []string{"10.42.0.7", "fd00::7"},
			want: localEntries +
				"10.42.0.7\tweb.nodes.shop.svc.cluster.local\tweb\n" +
				"fd00::7\tweb.nodes.shop.svc.cluster.local\tweb\n" +
				"\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n",
		},
		{
			name: "host network",
			pod:  v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: v1.PodSpec{HostNetwork: true, HostAliases: aliases}},
			ips:  []string{"192.168.1.5"},
			want: "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n192.168.1.5\tnode-a\n" +
				"\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pod", "etc-hosts")
			if err := WriteHosts(path, &tt.pod, tt.ips, "cluster.local"); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestWriteHostsRewritesInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc-hosts")
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	if err := WriteHosts(path, pod, []string{"10.42.0.1"}, "cluster.local"); err != nil {
		t.Fatal(err)
	}
	before := inode(t, path)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteHosts(path, pod, []string{"10.42.0.2"}, "cluster.local"); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) != before {
		t.Error("hosts file was replaced; a bind mount of it would go stale")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", info.Mode().Perm())
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}
