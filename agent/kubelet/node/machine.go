package node

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"
)

// host reads facts about this machine from /proc, /sys and /etc; root is
// "/" except in tests.
type host struct{ root string }

func (h host) path(p string) string { return filepath.Join(h.root, p) }

func (h host) readTrimmed(p string) string {
	data, err := os.ReadFile(h.path(p))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// meminfo returns the fields of /proc/meminfo in bytes.
func (h host) meminfo() (map[string]int64, error) {
	data, err := os.ReadFile(h.path("/proc/meminfo"))
	if err != nil {
		return nil, fmt.Errorf("reading meminfo: %w", err)
	}
	return parseMeminfo(data), nil
}

func parseMeminfo(data []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		out[key] = v
	}
	return out
}

// hugepages returns the capacity of every huge page size, keyed by the
// resource name (hugepages-2Mi), from the pools the kernel has reserved.
func (h host) hugepages() map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	dirs, _ := filepath.Glob(h.path("/sys/kernel/mm/hugepages/hugepages-*kB"))
	for _, dir := range dirs {
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(dir), "hugepages-"), "kB"), 10, 64)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "nr_hugepages"))
		if err != nil {
			continue
		}
		pages, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			continue
		}
		size := resource.NewQuantity(kb*1024, resource.BinarySI)
		out["hugepages-"+size.String()] = *resource.NewQuantity(pages*kb*1024, resource.BinarySI)
	}
	return out
}

// osImage is PRETTY_NAME from os-release, as the kubelet reports it.
func (h host) osImage() string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := os.ReadFile(h.path(p))
		if err != nil {
			continue
		}
		if v := osReleaseField(data, "PRETTY_NAME"); v != "" {
			return v
		}
	}
	return "Linux"
}

func osReleaseField(data []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || k != key {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			return uq
		}
		return strings.Trim(v, `'"`)
	}
	return ""
}

// pids returns the kernel's PID limit and how many tasks exist now (the
// fourth field of /proc/loadavg counts every thread).
func (h host) pids() (limit, used int64, err error) {
	limit, err = strconv.ParseInt(h.readTrimmed("/proc/sys/kernel/pid_max"), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("reading pid_max: %w", err)
	}
	fields := strings.Fields(h.readTrimmed("/proc/loadavg"))
	if len(fields) < 4 {
		return 0, 0, fmt.Errorf("unexpected /proc/loadavg")
	}
	_, total, ok := strings.Cut(fields[3], "/")
	if !ok {
		return 0, 0, fmt.Errorf("unexpected /proc/loadavg task count %q", fields[3])
	}
	used, err = strconv.ParseInt(total, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parsing /proc/loadavg: %w", err)
	}
	return limit, used, nil
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// fsStats is the size and free space of the file system holding a path.
type fsStats struct {
	capacity, available int64
	inodes, inodesFree  int64
}

func statFS(path string) (fsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fsStats{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize)
	return fsStats{
		capacity:   int64(st.Blocks) * bs,
		available:  int64(st.Bavail) * bs,
		inodes:     int64(st.Files),
		inodesFree: int64(st.Ffree),
	}, nil
}
