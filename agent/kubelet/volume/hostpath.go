package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	v1 "k8s.io/api/core/v1"
)

// checkHostPathType enforces a hostPath volume's type, creating the
// directory or file for the *OrCreate types, with the kubelet's messages.
func checkHostPathType(path string, t *v1.HostPathType) error {
	if t == nil || *t == v1.HostPathUnset {
		return nil
	}
	kind, exists, err := hostPathKind(path)
	if err != nil {
		return err
	}
	switch *t {
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("create hostPath directory %s: %w", path, err)
			}
			return nil
		}
		return expectKind(path, kind, v1.HostPathDirectory, "directory")
	case v1.HostPathDirectory:
		return expectKind(path, kind, v1.HostPathDirectory, "directory")
	case v1.HostPathFileOrCreate:
		if !exists {
			// The parent must exist: the kubelet creates the file only.
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create hostPath file %s: %w", path, err)
			}
			return f.Close()
		}
		return expectKind(path, kind, v1.HostPathFile, "file")
	case v1.HostPathFile:
		return expectKind(path, kind, v1.HostPathFile, "file")
	case v1.HostPathSocket:
		return expectKind(path, kind, v1.HostPathSocket, "socket file")
	case v1.HostPathCharDev:
		return expectKind(path, kind, v1.HostPathCharDev, "character device")
	case v1.HostPathBlockDev:
		return expectKind(path, kind, v1.HostPathBlockDev, "block device")
	}
	return fmt.Errorf("%s is an invalid volume type", *t)
}

func expectKind(path string, have, want v1.HostPathType, name string) error {
	if have != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", path, name)
	}
	return nil
}

// hostPathKind is what sits at path, following symlinks as a bind mount
// would.
func hostPathKind(path string) (kind v1.HostPathType, exists bool, err error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("stat hostPath %s: %w", path, err)
	}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		return v1.HostPathDirectory, true, nil
	case mode.IsRegular():
		return v1.HostPathFile, true, nil
	case mode&os.ModeSocket != 0:
		return v1.HostPathSocket, true, nil
	case mode&os.ModeDevice != 0 && mode&os.ModeCharDevice != 0:
		return v1.HostPathCharDev, true, nil
	case mode&os.ModeDevice != 0:
		return v1.HostPathBlockDev, true, nil
	}
	return "", true, nil
}
