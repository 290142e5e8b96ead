package runtime

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost builds a host whose /proc, /sys and CNI directories are files
// under a temp dir.
type fakeHost struct {
	binaries    []string          // found on PATH
	cniPlugins  []string          // executables in the second CNI dir
	filesystems string            // /proc/filesystems
	mountinfo   string            // /proc/self/mountinfo
	cgroup2     string            // /sys/fs/cgroup/cgroup.controllers, "" for none
	ipForward   string            // /proc/sys/net/ipv4/ip_forward
	extra       map[string]string // more files, by path under the root
}

func (f fakeHost) build(t *testing.T) host {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string, mode os.FileMode) {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/filesystems", f.filesystems, 0o644)
	write("proc/self/mountinfo", f.mountinfo, 0o644)
	write("proc/sys/net/ipv4/ip_forward", f.ipForward, 0o644)
	write("proc/sys/kernel/osrelease", "6.1.0-test\n", 0o644)
	if f.cgroup2 != "" {
		write("sys/fs/cgroup/cgroup.controllers", f.cgroup2, 0o644)
	}
	if err := os.MkdirAll(filepath.Join(root, "sys/module"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "opt/cni/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range f.cniPlugins {
		write(filepath.Join("opt/cni/bin", p), "#!/bin/sh\n", 0o755)
	}
	for rel, content := range f.extra {
		write(rel, content, 0o644)
	}
	return host{
		lookPath: func(name string) (string, error) {
			for _, b := range f.binaries {
				if b == name {
					return "/usr/sbin/" + name, nil
				}
			}
			return "", errors.New("not found")
		},
		procDir:    filepath.Join(root, "proc"),
		cgroupRoot: filepath.Join(root, "sys/fs/cgroup"),
		sysModule:  filepath.Join(root, "sys/module"),
		modulesDir: filepath.Join(root, "lib/modules"),
		cniBinDirs: []string{filepath.Join(root, "usr/lib/cni"), filepath.Join(root, "opt/cni/bin")},
	}
}

const v1Mountinfo = `25 1 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
30 25 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
31 25 0:29 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
32 25 0:30 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
33 25 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
`

func completeHost() fakeHost {
	return fakeHost{
		binaries:    []string{"runc", "iptables", "iptables-restore"},
		cniPlugins:  requiredCNIPlugins,
		filesystems: "nodev\tsysfs\nnodev\toverlay\n",
		mountinfo:   v1Mountinfo,
		ipForward:   "0\n",
	}
}

func TestCheckPrerequisites(t *testing.T) {
	tests := []struct {
		name        string
		host        func() fakeHost
		embedded    bool
		wantMissing []string // check names
		wantInErr   []string
	}{
		{
			name:     "complete cgroup v1 host",
			host:     completeHost,
			embedded: true,
		},
		{
			name: "cgroup v2 host",
			host: func() fakeHost {
				h := completeHost()
				h.mountinfo = ""
				h.cgroup2 = "cpuset cpu io memory hugetlb pids rdma\n"
				return h
			},
			embedded: true,
		},
		{
			name: "overlay as a loadable module",
			host: func() fakeHost {
				h := completeHost()
				h.filesystems = "nodev\tsysfs\n"
				h.extra = map[string]string{"lib/modules/6.1.0-test/kernel/fs/overlayfs/overlay.ko.xz": "x"}
				return h
			},
			embedded: true,
		},
		{
			name: "bare host",
			host: func() fakeHost {
				return fakeHost{filesystems: "nodev\tsysfs\n", mountinfo: "", ipForward: "1\n"}
			},
			embedded: true,
			wantMissing: []string{"runc", "iptables", "iptables-restore", "CNI plugin bridge", "CNI plugin host-local",
				"CNI plugin portmap", "CNI plugin loopback", "overlayfs", "cgroup controllers"},
			wantInErr: []string{"apt-get install runc iptables containernetworking-plugins"},
		},
		{
			name: "external runtime needs no runc, CNI plugins or overlayfs",
			host: func() fakeHost {
				h := completeHost()
				h.binaries = []string{"iptables", "iptables-restore"}
				h.cniPlugins = nil
				h.filesystems = ""
				return h
			},
			embedded: false,
		},
		{
			name: "cgroup v1 without the memory controller",
			host: func() fakeHost {
				h := completeHost()
				h.mountinfo = strings.ReplaceAll(v1Mountinfo, "rw,memory", "rw,hugetlb")
				return h
			},
			embedded:    true,
			wantMissing: []string{"cgroup controllers"},
			wantInErr:   []string{"cgroup v1 without memory mounted"},
		},
		{
			name: "one CNI plugin missing",
			host: func() fakeHost {
				h := completeHost()
				h.cniPlugins = []string{"bridge", "host-local", "loopback"}
				return h
			},
			embedded:    true,
			wantMissing: []string{"CNI plugin portmap"},
			wantInErr:   []string{"apt-get install containernetworking-plugins"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report := tt.host().build(t).check(tt.embedded)
			var missing []string
			for _, c := range report.Checks {
				if !c.OK {
					missing = append(missing, c.Name)
				}
			}
			if strings.Join(missing, ",") != strings.Join(tt.wantMissing, ",") {
				t.Errorf("missing = %v, want %v", missing, tt.wantMissing)
			}
			err := report.Err()
			if (err == nil) != (len(tt.wantMissing) == 0) || report.OK() != (len(tt.wantMissing) == 0) {
				t.Fatalf("Err() = %v, OK() = %v with missing %v", err, report.OK(), missing)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("Err() is not one line: %q", err)
			}
			for _, s := range tt.wantInErr {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("Err() = %v, want it to contain %q", err, s)
				}
			}
		})
	}
}

func TestReportWriteTo(t *testing.T) {
	r := Report{Checks: []Check{
		{Name: "runc", OK: true, Detail: "/usr/sbin/runc", Package: "runc"},
		{Name: "CNI plugin portmap", Detail: "not in /usr/lib/cni or /opt/cni/bin", Package: "containernetworking-plugins"},
	}}
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := "ok       runc: /usr/sbin/runc\n" +
		"missing  CNI plugin portmap: not in /usr/lib/cni or /opt/cni/bin (Debian package containernetworking-plugins)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
