package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kite/test/images"
)

// busyboxImage is the test image every node imports at start (air-gap
// import from <data-dir>/agent/images); its tag is not :latest, so pods
// use it without trying a registry.
const busyboxImage = "kite.test/busybox:1.0"

// nodeCluster is a real cluster in a netLab: `kite server` with its
// in-process agent in one namespace, and `kite agent`s in others.
type nodeCluster struct {
	lab    *netLab
	server *kiteServer
	k      kubectl
	// openRegistry and privateRegistry (user kite, password s3cret) are
	// registries on the lab bridge holding the busybox image as
	// e2e/busybox:1.0; the nodes reach them over plain HTTP through
	// registries.yaml.
	openRegistry, privateRegistry string
	agents                        []*kiteServer
}

// startNodeCluster starts a server with its agent as node-1 and waits
// until the node is Ready.
func startNodeCluster(t *testing.T) *nodeCluster {
	t.Helper()
	lab := newNetLab(t)
	netns, ip := lab.addHost(t, 11)
	dir := lab.tempDir(t)
	s := &kiteServer{
		dir:        dir,
		dataDir:    filepath.Join(dir, "data"),
		kubeconfig: filepath.Join(dir, "kite.yaml"),
		logPath:    filepath.Join(dir, "server.log"),
		config:     nodeConfigFile(t, dir),
		netns:      netns,
		host:       ip,
		port:       6443,
	}
	s.args = []string{"server",
		"--data-dir", s.dataDir,
		"--write-kubeconfig", s.kubeconfig,
		"--node-name", "node-1",
		"--node-ip", ip,
		"--config", s.config,
	}
	importTestImages(t, s.dataDir)
	c := &nodeCluster{lab: lab, server: s}
	c.startRegistries(t)
	s.args = append(s.args, "--private-registry", c.registriesYAML(t, dir))
	t.Cleanup(func() {
		if c.k.kubeconfig != "" {
			c.deleteAllPods(t)
		}
		for _, a := range c.agents {
			a.kill()
			if t.Failed() {
				a.dumpLog(t, 0)
			}
		}
		s.kill()
		if t.Failed() {
			s.dumpLog(t, 0)
		}
	})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The server writes a kubeconfig for its own loopback; from the host it
	// is reached at its lab address.
	kubeconfig, err := os.ReadFile(s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	s.kubeconfig = filepath.Join(dir, "host-kite.yaml")
	writeFileAt(t, s.kubeconfig, strings.ReplaceAll(string(kubeconfig), "https://127.0.0.1:6443", s.url()))
	c.k = bundledKubectl(t, s)
	c.waitNodeReady(t, "node-1")
	return c
}

// nodeConfigFile writes the nodes' config file. Test machines may run
// with fuller disks than the kubelet's defaults allow (DiskPressure would
// taint the node and the image collector would remove the test images),
// and these pods need little room; the list form also exercises
// --kubelet-arg from a config file.
func nodeConfigFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "config.yaml")
	writeFileAt(t, p, `kubelet-arg:
  - eviction-hard=nodefs.available<256Mi,nodefs.inodesFree<1%
  - image-gc-high-threshold=100
  - image-gc-low-threshold=99
`)
	return p
}

func (c *nodeCluster) startRegistries(t *testing.T) {
	img, err := images.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	c.openRegistry = images.StartRegistryOn(t, c.lab.subnet+".1", "", "")
	c.privateRegistry = images.StartRegistryOn(t, c.lab.subnet+".1", "kite", "s3cret")
	images.Push(t, c.openRegistry, "e2e/busybox:1.0", img, "", "")
	images.Push(t, c.privateRegistry, "e2e/busybox:1.0", img, "kite", "s3cret")
}

// registriesYAML writes the nodes' registries.yaml: both test registries
// over plain HTTP, with no credentials (pods bring them as pull secrets).
func (c *nodeCluster) registriesYAML(t *testing.T, dir string) string {
	var b strings.Builder
	b.WriteString("mirrors:\n")
	for _, host := range []string{c.openRegistry, c.privateRegistry} {
		b.WriteString("  \"" + host + "\":\n    endpoint: [\"http://" + host + "\"]\n")
	}
	path := filepath.Join(dir, "registries.yaml")
	writeFileAt(t, path, b.String())
	return path
}

// deleteAllPods lets the kubelets tear every pod down (containers,
// mounts, addresses) before the nodes are killed; what is left after a
// minute the lab's removal kills.
func (c *nodeCluster) deleteAllPods(t *testing.T) {
	c.k.run(t, "delete", "pods", "--all", "--all-namespaces", "--timeout=60s")
}

// token is the server's join token as agents are given it.
func (c *nodeCluster) token(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.server.dataDir, "server", "token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// startAgent starts `kite agent` as node-<n> in a new lab namespace at
// address .<n>, joining with token; it does not wait for anything.
func (c *nodeCluster) startAgent(t *testing.T, n int, token string) *kiteServer {
	t.Helper()
	netns, ip := c.lab.addHost(t, n)
	dir := c.lab.tempDir(t)
	a := &kiteServer{
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "agent.log"),
		config:  nodeConfigFile(t, dir),
		netns:   netns,
		host:    ip,
	}
	a.args = []string{"agent",
		"--server", c.server.url(),
		"--token", token,
		"--data-dir", a.dataDir,
		"--node-name", "node-" + strconv.Itoa(n),
		"--node-ip", ip,
		"--config", a.config,
	}
	importTestImages(t, a.dataDir)
	// Killed by the server's cleanup, once the pods are deleted.
	c.agents = append(c.agents, a)
	if err := a.start(); err != nil {
		t.Fatal(err)
	}
	return a
}

func (c *nodeCluster) waitNodeReady(t *testing.T, node string) {
	t.Helper()
	// kubectl wait fails at once for an object that does not exist yet.
	eventually(t, 60*time.Second, "node "+node+" registered", func() string {
		if r := c.k.run(t, "get", "node", node); r.code != 0 {
			return r.stderr
		}
		return ""
	})
	c.k.ok(t, "wait", "--for=condition=Ready", "node/"+node, "--timeout=55s")
}

var (
	testImagesOnce sync.Once
	testImagesTar  string
	testImagesErr  error
)

// importTestImages puts the test images where a node imports them at
// start, as an air-gapped machine would get them.
func importTestImages(t *testing.T, dataDir string) {
	t.Helper()
	testImagesOnce.Do(func() {
		testImagesTar, testImagesErr = images.Busybox(filepath.Join(sharedDir, "images"))
	})
	if testImagesErr != nil {
		t.Fatalf("building the test image: %v", testImagesErr)
	}
	dir := filepath.Join(dataDir, "agent", "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(testImagesTar, filepath.Join(dir, "busybox.tar")); err != nil {
		t.Fatal(err)
	}
}
