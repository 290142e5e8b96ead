package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// prepareSubPath makes target a bind mount of subPath inside the volume at
// volumeRoot and returns it. The subPath is resolved once, checked to stay
// inside the volume, then opened component by component without following
// symlinks and bind-mounted from that open file: a container that swaps a
// directory for a symlink cannot make the runtime mount something outside
// the volume. Missing directories on the way are created.
func prepareSubPath(volumeRoot, subPath, target string) error {
	root, err := filepath.EvalSymlinks(volumeRoot)
	if err != nil {
		return fmt.Errorf("resolve volume path: %w", err)
	}
	if err := makeSubPathDirs(root, subPath); err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(root, subPath))
	if err != nil {
		return fmt.Errorf("resolve subPath: %w", err)
	}
	rel, ok := within(root, resolved)
	if !ok {
		return fmt.Errorf("subPath %q resolves to %q, outside volume path %q", subPath, resolved, root)
	}
	fd, err := openNoFollow(root, rel)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat subPath: %w", err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR

	if err := prepareMountTarget(target, isDir); err != nil {
		return err
	}
	return bindMount(fmt.Sprintf("/proc/self/fd/%d", fd), target)
}

// within reports path relative to root if it is root or below it.
func within(root, path string) (string, bool) {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// openNoFollow opens root/rel as an O_PATH descriptor, refusing any
// symlink on the way.
func openNoFollow(root, rel string) (int, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open volume path: %w", err)
	}
	current := root
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == "." {
			continue
		}
		current = filepath.Join(current, part)
		next, err := unix.Openat(fd, part, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		_ = unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", current, err)
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			_ = unix.Close(fd)
			return -1, fmt.Errorf("stat %s: %w", current, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			_ = unix.Close(fd)
			return -1, fmt.Errorf("%s turned into a symlink while it was being opened", current)
		}
	}
	return fd, nil
}

// makeSubPathDirs creates the missing directories of subPath with the mode
// of the volume's root, creating each one relative to its opened parent so
// a symlink planted on the way cannot redirect the creation.
func makeSubPathDirs(root, subPath string) error {
	parts := strings.Split(filepath.Clean(subPath), "/")
	existing := 0
	for ; existing < len(parts); existing++ {
		_, err := os.Lstat(filepath.Join(append([]string{root}, parts[:existing+1]...)...))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("stat subPath: %w", err)
		}
	}
	if existing == len(parts) {
		return nil
	}
	info, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("stat volume path: %w", err)
	}
	perm := uint32(info.Mode().Perm())

	parent, err := filepath.EvalSymlinks(filepath.Join(append([]string{root}, parts[:existing]...)...))
	if err != nil {
		return fmt.Errorf("resolve subPath: %w", err)
	}
	rel, ok := within(root, parent)
	if !ok {
		return fmt.Errorf("subPath %q leads outside volume path %q", subPath, root)
	}
	fd, err := openNoFollow(root, rel)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	for _, part := range parts[existing:] {
		if err := unix.Mkdirat(fd, part, perm); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create subPath directory %s: %w", part, err)
		}
		// The umask filtered the mode given to mkdirat.
		if err := unix.Fchmodat(fd, part, perm, 0); err != nil {
			return fmt.Errorf("chmod subPath directory %s: %w", part, err)
		}
		next, err := unix.Openat(fd, part, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open subPath directory %s: %w", part, err)
		}
		_ = unix.Close(fd)
		fd = next
	}
	return nil
}

// prepareMountTarget readies target as a mount point for a directory or a
// file, removing a stale bind mount left by an earlier container instance.
func prepareMountTarget(target string, isDir bool) error {
	if info, err := os.Lstat(target); err == nil {
		mounted, err := isMountPoint(target)
		if err != nil {
			return err
		}
		if mounted {
			if err := unmount(target); err != nil {
				return err
			}
		}
		if info.IsDir() == isDir && info.Mode().Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if err := os.Remove(target); err != nil {
			return fmt.Errorf("replace subPath mount point: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat subPath mount point: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return fmt.Errorf("create subPath mount point: %w", err)
	}
	if isDir {
		if err := os.Mkdir(target, 0o750); err != nil {
			return fmt.Errorf("create subPath mount point: %w", err)
		}
		return nil
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("create subPath mount point: %w", err)
	}
	return f.Close()
}
