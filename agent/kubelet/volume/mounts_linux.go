package volume

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"
)

// mountInfoPath is the kernel's list of this process's mounts.
const mountInfoPath = "/proc/self/mountinfo"

// mountPoints returns every mount point of this mount namespace.
func mountPoints() ([]string, error) {
	f, err := os.Open(mountInfoPath)
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer func() { _ = f.Close() }()
	var points []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for scanner.Scan() {
		// "36 35 98:0 /root /mnt/point rw,noatime master:1 - ext3 /dev/root rw"
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		points = append(points, unescapeOctal(fields[4]))
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	return points, nil
}

// unescapeOctal undoes the kernel's \ooo escaping of spaces, tabs,
// newlines and backslashes in mount paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountPointsUnder lists the mount points strictly below dir, deepest
// first so they can be unmounted in order.
func mountPointsUnder(dir string) ([]string, error) {
	resolved, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", dir, err)
	}
	all, err := mountPoints()
	if err != nil {
		return nil, err
	}
	prefix := resolved + string(filepath.Separator)
	var under []string
	for _, p := range all {
		if strings.HasPrefix(p, prefix) {
			under = append(under, p)
		}
	}
	sort.Slice(under, func(i, j int) bool {
		di, dj := strings.Count(under[i], "/"), strings.Count(under[j], "/")
		if di != dj {
			return di > dj
		}
		return under[i] > under[j]
	})
	return compactStrings(under), nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// isMountPoint reports whether path is itself a mount point.
func isMountPoint(path string) (bool, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", path, err)
	}
	all, err := mountPoints()
	if err != nil {
		return false, err
	}
	for _, p := range all {
		if p == resolved {
			return true, nil
		}
	}
	return false, nil
}

// mountTmpfs mounts a tmpfs on dir unless one is there already, and
// reports whether it mounted one; size limits it when set.
func mountTmpfs(dir string, size *resource.Quantity) (bool, error) {
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return false, err
	}
	var opts string
	if size != nil && !size.IsZero() {
		opts = "size=" + strconv.FormatInt(size.Value(), 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return false, fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return true, nil
}

// bindMount binds source onto target (which must exist).
func bindMount(source, target string) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", source, target, err)
	}
	return nil
}

// unmount detaches the mount at path, lazily if it is busy.
func unmount(path string) error {
	err := unix.Unmount(path, unix.UMOUNT_NOFOLLOW)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	return nil
}
