package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Layout of a volume whose files the kubelet writes (configMap, secret,
// downwardAPI, projected):
//
//	<dir>/..2026_01_02_15_04_05.123456/   the files of one version
//	<dir>/..data -> ..2026_01_02_15_04_05.123456
//	<dir>/<key>  -> ..data/<key>           what the container sees
//
// A new version is written to a fresh timestamped directory and ..data is
// switched to it with one rename, so a running container sees either the
// old or the new set of files, never a mix.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// projectedFile is one file of a volume.
type projectedFile struct {
	data []byte
	mode os.FileMode
	// uid owns the file when >= 0 (a token readable only by the pod's user).
	uid int
}

// ownership is applied to a volume's files: the group is set to gid and
// group read (or read-write) added, as the kubelet does for fsGroup.
type ownership struct {
	gid      int // < 0: leave alone
	readOnly bool
}

// writeAtomic makes dir hold exactly files (keys are relative paths). It
// does nothing when the current version already matches, and reports
// whether it wrote a new version.
func writeAtomic(dir string, files map[string]projectedFile, own ownership) (bool, error) {
	if err := validatePayload(files); err != nil {
		return false, err
	}
	current, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s link: %w", dataDirName, err)
	}
	if current != "" {
		same, err := versionMatches(filepath.Join(dir, current), files)
		if err != nil {
			return false, err
		}
		if same {
			return false, updateVisibleLinks(dir, files)
		}
	}

	version, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("create version directory: %w", err)
	}
	if err := os.Chmod(version, 0o755); err != nil {
		return false, fmt.Errorf("chmod version directory: %w", err)
	}
	if err := writeVersion(version, files, own); err != nil {
		_ = os.RemoveAll(version)
		return false, err
	}

	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(version), tmpLink); err != nil {
		_ = os.RemoveAll(version)
		return false, fmt.Errorf("create %s link: %w", newDataDirName, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		_ = os.Remove(tmpLink)
		_ = os.RemoveAll(version)
		return false, fmt.Errorf("switch %s link: %w", dataDirName, err)
	}
	if err := updateVisibleLinks(dir, files); err != nil {
		return true, err
	}
	return true, removeOldVersions(dir, filepath.Base(version))
}

// validatePayload rejects paths that could leave the volume or collide
// with the writer's own entries; the API validates them too, this guards
// the host against anything that slipped through.
func validatePayload(files map[string]projectedFile) error {
	for p := range files {
		if p == "" || filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("invalid file path %q in volume", p)
		}
		for _, part := range strings.Split(p, "/") {
			if part == ".." {
				return fmt.Errorf("file path %q in volume must not contain '..'", p)
			}
		}
		if strings.HasPrefix(p, "..") {
			return fmt.Errorf("file path %q in volume must not start with '..'", p)
		}
		// "a" as a file and "a/b" below it cannot both exist.
		for dir := filepath.Dir(p); dir != "."; dir = filepath.Dir(dir) {
			if _, clash := files[dir]; clash {
				return fmt.Errorf("file path %q in volume is below file %q", p, dir)
			}
		}
	}
	return nil
}

// versionMatches reports whether a version directory holds exactly files
// with the same contents and modes.
func versionMatches(version string, files map[string]projectedFile) (bool, error) {
	seen := 0
	err := filepath.WalkDir(version, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(version, path)
		if err != nil {
			return err
		}
		want, ok := files[rel]
		if !ok || !d.Type().IsRegular() {
			return errMismatch
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != want.mode.Perm()|groupBits(info.Mode().Perm(), want.mode.Perm()) {
			return errMismatch
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, want.data) {
			return errMismatch
		}
		seen++
		return nil
	})
	if errors.Is(err, errMismatch) || errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("compare volume contents: %w", err)
	}
	return seen == len(files), nil
}

var errMismatch = errors.New("volume contents differ")

// groupBits are the group bits fsGroup handling may have added to a file's
// mode; they do not make a version differ.
func groupBits(have, want os.FileMode) os.FileMode {
	return (have &^ want) & 0o060
}

func writeVersion(version string, files map[string]projectedFile, own ownership) error {
	for rel, f := range files {
		path := filepath.Join(version, rel)
		if err := mkdirAllOwned(version, filepath.Dir(rel), own); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.data, f.mode.Perm()); err != nil {
			return fmt.Errorf("write %s: %w", rel, err)
		}
		mode := f.mode.Perm()
		uid, gid := -1, -1
		if f.uid >= 0 {
			uid = f.uid
		}
		if own.gid >= 0 {
			gid = own.gid
			if own.readOnly {
				mode |= 0o440
			} else {
				mode |= 0o660
			}
		}
		if uid >= 0 || gid >= 0 {
			if err := os.Lchown(path, uid, gid); err != nil {
				return fmt.Errorf("chown %s: %w", rel, err)
			}
		}
		// Chmod after write: WriteFile's mode is filtered by the umask.
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", rel, err)
		}
	}
	return applyDirOwnership(version, own)
}

// mkdirAllOwned creates rel (and parents) under base with mode 0755.
func mkdirAllOwned(base, rel string, own ownership) error {
	if rel == "." {
		return nil
	}
	path := filepath.Join(base, rel)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", rel, err)
	}
	for d := rel; d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(filepath.Join(base, d), 0o755); err != nil {
			return fmt.Errorf("chmod directory %s: %w", d, err)
		}
		if err := applyDirOwnership(filepath.Join(base, d), own); err != nil {
			return err
		}
	}
	return nil
}

// applyDirOwnership gives a directory the fsGroup group with setgid, so
// files created in it inherit the group.
func applyDirOwnership(dir string, own ownership) error {
	if own.gid < 0 {
		return nil
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := os.Lchown(dir, -1, own.gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	mask := os.FileMode(0o550) | os.ModeSetgid
	if !own.readOnly {
		mask = 0o770 | os.ModeSetgid
	}
	if err := os.Chmod(dir, info.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSticky)|mask); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// updateVisibleLinks points <dir>/<first path element> at ..data/<element>
// for every file and removes links of files that are gone.
func updateVisibleLinks(dir string, files map[string]projectedFile) error {
	want := make(map[string]bool)
	for p := range files {
		top, _, _ := strings.Cut(p, "/")
		want[top] = true
	}
	for top := range want {
		link := filepath.Join(dir, top)
		target := filepath.Join(dataDirName, top)
		have, err := os.Readlink(link)
		if err == nil && have == target {
			continue
		}
		if err == nil {
			if err := os.Remove(link); err != nil {
				return fmt.Errorf("replace link %s: %w", top, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			// Something that is not our link sits there: leave it and fail
			// rather than delete what we did not create.
			return fmt.Errorf("path %s in volume is in the way of a file: %w", top, err)
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("link %s: %w", top, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list volume: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || want[name] || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, name)); err == nil && strings.HasPrefix(target, dataDirName+"/") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("remove stale link %s: %w", name, err)
			}
		}
	}
	return nil
}

// removeOldVersions deletes version directories other than keep (the one
// ..data points at), including any left by an interrupted write.
func removeOldVersions(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list volume: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || name == keep || !strings.HasPrefix(name, "..") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("remove old version %s: %w", name, err)
		}
	}
	return nil
}
