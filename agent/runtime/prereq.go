package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"kite/agent/cni"
)

// Check is one thing a node needs from its host.
type Check struct {
	Name string
	// OK says whether the host has it; Detail says what was found, or what
	// is missing.
	OK     bool
	Detail string
	// Package is the Debian package that provides it, if any.
	Package string
}

// Report is the outcome of CheckPrerequisites.
type Report struct {
	Checks []Check
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Err is nil when everything is present, else one line naming everything
// missing and the packages that provide it.
func (r Report) Err() error {
	var missing, packages []string
	for _, c := range r.Checks {
		if c.OK {
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (%s)", c.Name, c.Detail))
		if c.Package != "" && !slices.Contains(packages, c.Package) {
			packages = append(packages, c.Package)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := "this host lacks what a kite node needs: " + strings.Join(missing, "; ")
	if len(packages) > 0 {
		msg += "; install with: apt-get install " + strings.Join(packages, " ")
	}
	return errors.New(msg)
}

// WriteTo prints one line per check, for `kite check-config`.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, c := range r.Checks {
		status := "ok"
		if !c.OK {
			status = "missing"
		}
		fmt.Fprintf(&b, "%-8s %s: %s", status, c.Name, c.Detail)
		if !c.OK && c.Package != "" {
			fmt.Fprintf(&b, " (Debian package %s)", c.Package)
		}
		b.WriteByte('\n')
	}
	return b.WriteTo(w)
}

// requiredCNIPlugins are the plugins kite's pod network conflist uses.
var requiredCNIPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// host is what the checks look at; tests point it at a fake root.
type host struct {
	lookPath   func(string) (string, error)
	procDir    string // /proc
	cgroupRoot string // /sys/fs/cgroup
	sysModule  string // /sys/module
	modulesDir string // /lib/modules
	cniBinDirs []string
}

func realHost() host {
	return host{
		lookPath:   exec.LookPath,
		procDir:    "/proc",
		cgroupRoot: "/sys/fs/cgroup",
		sysModule:  "/sys/module",
		modulesDir: "/lib/modules",
		cniBinDirs: cni.PluginDirs,
	}
}

// CheckPrerequisites looks for what a node needs on this host. embedded
// says kite runs its own containerd, which also needs runc, overlayfs and
// the CNI plugins; with an external runtime those are its business.
func CheckPrerequisites(embedded bool) Report {
	return realHost().check(embedded)
}

func (h host) check(embedded bool) Report {
	var checks []Check
	if embedded {
		checks = append(checks, h.binary("runc", "runc"))
	}
	checks = append(checks,
		h.binary("iptables", "iptables"),
		h.binary("iptables-restore", "iptables"),
	)
	if embedded {
		for _, plugin := range requiredCNIPlugins {
			checks = append(checks, h.cniPlugin(plugin))
		}
		checks = append(checks, h.overlayfs())
	}
	checks = append(checks, h.cgroups(), h.ipForward())
	return Report{Checks: checks}
}

func (h host) binary(name, pkg string) Check {
	c := Check{Name: name, Package: pkg}
	path, err := h.lookPath(name)
	if err != nil {
		c.Detail = "not found in PATH"
		return c
	}
	c.OK, c.Detail = true, path
	return c
}

func (h host) cniPlugin(name string) Check {
	c := Check{Name: "CNI plugin " + name, Package: "containernetworking-plugins"}
	for _, dir := range h.cniBinDirs {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			c.OK, c.Detail = true, path
			return c
		}
	}
	c.Detail = "not in " + strings.Join(h.cniBinDirs, " or ")
	return c
}

// overlayfs is there when the kernel lists it, or has its module loaded
// or available to load on first mount.
func (h host) overlayfs() Check {
	c := Check{Name: "overlayfs"}
	if data, err := os.ReadFile(filepath.Join(h.procDir, "filesystems")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if fields := strings.Fields(line); len(fields) > 0 && fields[len(fields)-1] == "overlay" {
				c.OK, c.Detail = true, "in the kernel"
				return c
			}
		}
	}
	if _, err := os.Stat(filepath.Join(h.sysModule, "overlay")); err == nil {
		c.OK, c.Detail = true, "module loaded"
		return c
	}
	if release, err := os.ReadFile(filepath.Join(h.procDir, "sys", "kernel", "osrelease")); err == nil {
		matches, _ := filepath.Glob(filepath.Join(h.modulesDir, strings.TrimSpace(string(release)), "kernel", "fs", "overlayfs", "overlay.ko*"))
		if len(matches) > 0 {
			c.OK, c.Detail = true, "module available"
			return c
		}
	}
	c.Detail = "the kernel has no overlay filesystem (load the overlay module)"
	return c
}

// cgroupV1Controllers and cgroupV2Controllers are what runc needs to
// confine containers with the cgroupfs driver.
var (
	cgroupV1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer"}
	cgroupV2Controllers = []string{"cpu", "cpuset", "memory", "pids"}
)

func (h host) cgroups() Check {
	c := Check{Name: "cgroup controllers"}
	if data, err := os.ReadFile(filepath.Join(h.cgroupRoot, "cgroup.controllers")); err == nil {
		have := strings.Fields(string(data))
		missing := missingFrom(cgroupV2Controllers, have)
		if len(missing) > 0 {
			c.Detail = "cgroup v2 without " + strings.Join(missing, ", ")
			return c
		}
		c.OK, c.Detail = true, "cgroup v2 ("+strings.Join(cgroupV2Controllers, ", ")+")"
		return c
	}
	mounted, err := h.cgroupV1Mounted()
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	missing := missingFrom(cgroupV1Controllers, mounted)
	if len(missing) > 0 {
		c.Detail = "cgroup v1 without " + strings.Join(missing, ", ") + " mounted"
		return c
	}
	c.OK, c.Detail = true, "cgroup v1 ("+strings.Join(cgroupV1Controllers, ", ")+")"
	return c
}

// cgroupV1Mounted lists the controllers of every mounted v1 hierarchy.
func (h host) cgroupV1Mounted() ([]string, error) {
	f, err := os.Open(filepath.Join(h.procDir, "self", "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var controllers []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		// mountinfo: ... <optional fields> - <fstype> <source> <super options>
		_, after, ok := strings.Cut(scanner.Text(), " - ")
		if !ok {
			continue
		}
		fields := strings.Fields(after)
		if len(fields) < 3 || fields[0] != "cgroup" {
			continue
		}
		controllers = append(controllers, strings.Split(fields[2], ",")...)
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	return controllers, nil
}

func missingFrom(want, have []string) []string {
	var missing []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// ipForward passes when forwarding is on or can be switched on; the pod
// network turns it on.
func (h host) ipForward() Check {
	c := Check{Name: "IPv4 forwarding"}
	path := filepath.Join(h.procDir, "sys", "net", "ipv4", "ip_forward")
	data, err := os.ReadFile(path)
	if err != nil {
		c.Detail = fmt.Sprintf("cannot read %s", path)
		return c
	}
	if strings.TrimSpace(string(data)) == "1" {
		c.OK, c.Detail = true, "on"
		return c
	}
	// Opening for writing changes nothing but proves the setting is ours
	// to change (root, /proc/sys not read-only).
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		c.Detail = fmt.Sprintf("off, and %s is not writable", path)
		return c
	}
	f.Close()
	c.OK, c.Detail = true, "off, can be turned on"
	return c
}
