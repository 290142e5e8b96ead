// Package images builds the container images kite's tests run, from the
// host's Debian busybox-static, so no test needs a registry on the internet,
// and serves them from an in-process registry on loopback for pull tests.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// BusyboxRef is the name the busybox image carries in its layout tar
	// and the name containerd gives it on import.
	BusyboxRef = "kite.test/busybox:1.0"
	busyboxTag = "1.0"

	// busyboxPath is where Debian's busybox-static installs the binary.
	busyboxPath = "/bin/busybox"
	installHint = "apt-get install busybox-static"
)

// epoch stamps every file and the config, so rebuilding from the same
// busybox gives the same digests.
var epoch = time.Unix(0, 0).UTC()

var busyboxImage struct {
	sync.Mutex
	img v1.Image
}

// BusyboxImage returns the busybox test image: /bin/busybox with a symlink
// per applet, /etc/passwd and /etc/group with root and nobody (65534), /tmp
// and /root; it runs `sh` in / with the usual PATH. It is built once per
// process; a failed build is retried on the next call.
func BusyboxImage() (v1.Image, error) {
	busyboxImage.Lock()
	defer busyboxImage.Unlock()
	if busyboxImage.img != nil {
		return busyboxImage.img, nil
	}
	img, err := buildBusyboxImage()
	if err != nil {
		return nil, err
	}
	busyboxImage.img = img
	return img, nil
}

func buildBusyboxImage() (v1.Image, error) {
	rootfs, err := busyboxRootfs()
	if err != nil {
		return nil, err
	}
	layer, err := newGzipLayer(rootfs)
	if err != nil {
		return nil, fmt.Errorf("busybox image layer: %w", err)
	}

	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Cmd:        []string{"sh"},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir: "/",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("busybox image config: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "kite test/images: Debian busybox-static"},
	})
	if err != nil {
		return nil, fmt.Errorf("busybox image: %w", err)
	}
	return img, nil
}

// busyboxRootfs returns the uncompressed layer tar.
func busyboxRootfs() ([]byte, error) {
	binary, err := readStaticBusybox(busyboxPath)
	if err != nil {
		return nil, err
	}
	applets, err := busyboxApplets(busyboxPath)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		name string
		mode int64
	}{
		{"bin/", 0o755},
		{"etc/", 0o755},
		{"root/", 0o700},
		{"tmp/", 0o1777},
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(header(tar.TypeDir, d.name, d.mode, 0)); err != nil {
			return nil, fmt.Errorf("busybox rootfs %s: %w", d.name, err)
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"bin/busybox", 0o755, binary},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n")},
	}
	for _, f := range files {
		if err := tw.WriteHeader(header(tar.TypeReg, f.name, f.mode, int64(len(f.data)))); err != nil {
			return nil, fmt.Errorf("busybox rootfs %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("busybox rootfs %s: %w", f.name, err)
		}
	}
	for _, applet := range applets {
		link := header(tar.TypeSymlink, "bin/"+applet, 0o777, 0)
		link.Linkname = "busybox"
		if err := tw.WriteHeader(link); err != nil {
			return nil, fmt.Errorf("busybox rootfs applet %s: %w", applet, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("busybox rootfs: %w", err)
	}
	return buf.Bytes(), nil
}

func header(typeflag byte, name string, mode, size int64) *tar.Header {
	return &tar.Header{
		Typeflag: typeflag,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	}
}

// readStaticBusybox reads the busybox binary at path, refusing a dynamically
// linked one (Debian's plain `busybox` package installs the same path),
// which could not run in an image without a C library.
func readStaticBusybox(path string) ([]byte, error) {
	binary, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s not found; %s", path, installHint)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return nil, fmt.Errorf("%s is not an ELF executable (%v); %s", path, err, installHint)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked; %s", path, installHint)
		}
	}
	return binary, nil
}

// busyboxApplets asks busybox which applets it has, sorted, without
// "busybox" itself.
func busyboxApplets(path string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w; %s", path, err, installHint)
	}
	var applets []string
	for _, name := range strings.Fields(string(out)) {
		if name != "busybox" && !strings.Contains(name, "/") {
			applets = append(applets, name)
		}
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list printed no applets", path)
	}
	sort.Strings(applets)
	return applets, nil
}
