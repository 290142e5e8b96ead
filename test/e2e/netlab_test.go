package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netLab is a small network of this machine's own: a bridge on the host
// and network namespaces plugged into it, each standing for one machine.
// Nodes run inside the namespaces, so their bridges, routes, iptables rules
// and kubelet ports never touch the host's, and every address they use is
// one the lab created.
type netLab struct {
	bridge string
	subnet string // first three octets, e.g. "10.250.7"
	hosts  []string
	dirs   []string // data dirs, removed once nothing runs from them
}

// newNetLab creates the bridge (the host holds .1) and removes the whole
// lab, with every process left in it, when the test ends.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and runs nodes in them")
	}
	id := os.Getpid() % 200
	lab := &netLab{bridge: fmt.Sprintf("ke2e%d", id), subnet: fmt.Sprintf("10.250.%d", id)}
	t.Cleanup(func() { lab.remove(t) })
	lab.ip(t, "link", "add", lab.bridge, "type", "bridge")
	lab.ip(t, "addr", "add", lab.subnet+".1/24", "dev", lab.bridge)
	lab.ip(t, "link", "set", lab.bridge, "up")
	return lab
}

// addHost creates a namespace with one interface on the lab's bridge at
// .<n> and a default route through the host; it returns the namespace
// name and the address.
func (l *netLab) addHost(t *testing.T, n int) (netns, ip string) {
	t.Helper()
	netns = fmt.Sprintf("%s-n%d", l.bridge, n)
	ip = fmt.Sprintf("%s.%d", l.subnet, n)
	hostEnd, nsEnd := fmt.Sprintf("%sh%d", l.bridge, n), fmt.Sprintf("%sc%d", l.bridge, n)
	l.hosts = append(l.hosts, netns)
	l.ip(t, "netns", "add", netns)
	l.ip(t, "link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd)
	l.ip(t, "link", "set", hostEnd, "master", l.bridge, "up")
	l.ip(t, "link", "set", nsEnd, "netns", netns)
	l.ip(t, "-n", netns, "link", "set", "lo", "up")
	l.ip(t, "-n", netns, "link", "set", nsEnd, "name", "eth0")
	l.ip(t, "-n", netns, "addr", "add", ip+"/24", "dev", "eth0")
	l.ip(t, "-n", netns, "link", "set", "eth0", "up")
	l.ip(t, "-n", netns, "route", "add", "default", "via", l.subnet+".1")
	return netns, ip
}

func (l *netLab) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// remove kills everything the nodes left behind — processes in the
// namespaces (kite, containerd, shims) and the pods' processes, which live
// in namespaces of their own but in the kubepods cgroups — then deletes
// the namespaces and the bridge.
func (l *netLab) remove(t *testing.T) {
	for _, netns := range l.hosts {
		out, _ := exec.Command("ip", "netns", "pids", netns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	killCgroupTree("/sys/fs/cgroup/pids/kubepods")
	for _, netns := range l.hosts {
		_ = exec.Command("ip", "netns", "del", netns).Run()
	}
	_ = exec.Command("ip", "link", "del", l.bridge).Run()
	for _, dir := range l.dirs {
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	}
	removeOrphanPodNetns()
}

// tempDir is a directory for a node's data, removed after the lab's
// processes are gone and its mounts undone (t.TempDir would be removed
// while they still run).
func (l *netLab) tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kite-e2e-node-")
	if err != nil {
		t.Fatal(err)
	}
	l.dirs = append(l.dirs, dir)
	return dir
}

// unmountUnder detaches every mount below dir (container root
// filesystems, volumes), deepest first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// removeOrphanPodNetns deletes the pod network namespaces containerd
// made (cni-*) that no process uses any more.
func removeOrphanPodNetns() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.HasPrefix(name, "cni-") {
			continue
		}
		if pids, _ := exec.Command("ip", "netns", "pids", name).Output(); len(strings.TrimSpace(string(pids))) == 0 {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// killCgroupTree SIGKILLs every process in a cgroup v1 hierarchy and
// removes the emptied cgroups, deepest first.
func killCgroupTree(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for _, dir := range dirs {
		data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
}

// writeFileAt writes content to path (writeFile picks its own temp path).
func writeFileAt(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
