package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// loadLayout unpacks a layout tar and returns its single image and the
// index descriptor naming it.
func loadLayout(t *testing.T, tarPath string) (v1.Image, v1.Descriptor) {
	t.Helper()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatalf("open %s: %v", tarPath, err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", tarPath, err)
		}
		target := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("read %s from %s: %v", hdr.Name, tarPath, err)
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s (type %c) in the layout tar", hdr.Name, hdr.Typeflag)
		}
	}
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read OCI layout: %v", err)
	}
	if err := validate.Index(index); err != nil {
		t.Fatalf("invalid OCI layout: %v", err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatalf("index manifest: %v", err)
	}
	if len(manifest.Manifests) != 1 {
		t.Fatalf("layout has %d images, want 1", len(manifest.Manifests))
	}
	img, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("image from layout: %v", err)
	}
	return img, manifest.Manifests[0]
}

func TestBusyboxLayoutTar(t *testing.T) {
	path, err := Busybox(t.TempDir())
	if err != nil {
		t.Fatalf("Busybox: %v", err)
	}
	img, desc := loadLayout(t, path)

	if got := desc.Annotations["io.containerd.image.name"]; got != "kite.test/busybox:1.0" {
		t.Errorf("io.containerd.image.name = %q, want kite.test/busybox:1.0", got)
	}
	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != "1.0" {
		t.Errorf("org.opencontainers.image.ref.name = %q, want 1.0", got)
	}

	// The tar holds exactly the image that BusyboxImage returns (and Push sends).
	want, err := BusyboxImage()
	if err != nil {
		t.Fatalf("BusyboxImage: %v", err)
	}
	wantDigest, _ := want.Digest()
	if desc.Digest != wantDigest {
		t.Errorf("layout image %s, BusyboxImage %s: want the same image", desc.Digest, wantDigest)
	}

	config, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if !slices.Equal(config.Config.Cmd, []string{"sh"}) || config.Config.WorkingDir != "/" {
		t.Errorf("Cmd %q WorkingDir %q, want [sh] and /", config.Config.Cmd, config.Config.WorkingDir)
	}
	if !slices.ContainsFunc(config.Config.Env, func(e string) bool {
		return strings.HasPrefix(e, "PATH=") && slices.Contains(strings.Split(e[len("PATH="):], ":"), "/bin")
	}) {
		t.Errorf("Env %q has no PATH containing /bin", config.Config.Env)
	}
	if config.OS != "linux" {
		t.Errorf("os = %q, want linux", config.OS)
	}
}

func TestBusyboxImageRootfs(t *testing.T) {
	img, err := BusyboxImage()
	if err != nil {
		t.Fatalf("BusyboxImage: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("invalid image: %v", err)
	}
	entries := rootfsEntries(t, img)

	checks := []struct {
		name     string
		typeflag byte
		mode     int64
		linkname string
		content  []string
	}{
		{name: "bin/busybox", typeflag: tar.TypeReg, mode: 0o755},
		{name: "bin/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "tmp/", typeflag: tar.TypeDir, mode: 0o1777},
		{name: "root/", typeflag: tar.TypeDir, mode: 0o700},
		{name: "etc/passwd", typeflag: tar.TypeReg, mode: 0o644, content: []string{"root:x:0:0:", "nobody:x:65534:65534:"}},
		{name: "etc/group", typeflag: tar.TypeReg, mode: 0o644, content: []string{"root:x:0:", "nobody:x:65534:"}},
	}
	for _, applet := range []string{"sh", "httpd", "nc", "wget", "nslookup", "sleep", "cat", "echo"} {
		checks = append(checks, struct {
			name     string
			typeflag byte
			mode     int64
			linkname string
			content  []string
		}{name: "bin/" + applet, typeflag: tar.TypeSymlink, mode: 0o777, linkname: "busybox"})
	}
	for _, c := range checks {
		e, ok := entries[c.name]
		if !ok {
			t.Errorf("%s missing from the image", c.name)
			continue
		}
		if e.hdr.Typeflag != c.typeflag || e.hdr.Mode != c.mode || e.hdr.Linkname != c.linkname {
			t.Errorf("%s: type %c mode %o link %q, want type %c mode %o link %q",
				c.name, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Linkname, c.typeflag, c.mode, c.linkname)
		}
		for _, want := range c.content {
			if !strings.Contains(string(e.data), want) {
				t.Errorf("%s lacks %q:\n%s", c.name, want, e.data)
			}
		}
	}

	// Every applet busybox reports, except itself, has its link.
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if e, ok := entries["bin/"+applet]; !ok || e.hdr.Linkname != "busybox" {
			t.Errorf("applet %s has no bin/%s -> busybox link", applet, applet)
		}
	}
	host, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatalf("read host busybox: %v", err)
	}
	if !bytes.Equal(entries["bin/busybox"].data, host) {
		t.Errorf("bin/busybox differs from the host's %s", busyboxPath)
	}
}

// The rootfs works when unpacked: the applet links resolve and run.
func TestBusyboxRootfsRuns(t *testing.T) {
	img, err := BusyboxImage()
	if err != nil {
		t.Fatalf("BusyboxImage: %v", err)
	}
	root := t.TempDir()
	for name, e := range rootfsEntries(t, img) {
		target := filepath.Join(root, filepath.FromSlash(name))
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				err = os.WriteFile(target, e.data, os.FileMode(e.hdr.Mode))
			}
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				err = os.Symlink(e.hdr.Linkname, target)
			}
		}
		if err != nil {
			t.Fatalf("unpack %s: %v", name, err)
		}
	}
	cmd := exec.Command(filepath.Join(root, "bin", "sh"), "-c", "echo hello from $(cat etc/group | wc -l) groups")
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + filepath.Join(root, "bin")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run unpacked sh: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "hello from 2 groups" {
		t.Fatalf("unpacked sh printed %q, want %q", got, "hello from 2 groups")
	}
}

func TestBusyboxBuildsOncePerDir(t *testing.T) {
	dir := t.TempDir()
	first, err := Busybox(dir)
	if err != nil {
		t.Fatalf("Busybox: %v", err)
	}
	before, err := os.Stat(first)
	if err != nil {
		t.Fatalf("stat %s: %v", first, err)
	}
	second, err := Busybox(dir)
	if err != nil {
		t.Fatalf("Busybox again: %v", err)
	}
	after, err := os.Stat(second)
	if err != nil {
		t.Fatalf("stat %s: %v", second, err)
	}
	if first != second || !os.SameFile(before, after) {
		t.Fatalf("second call gave %s (a new file: %v), want the first %s untouched", second, !os.SameFile(before, after), first)
	}

	other, err := Busybox(t.TempDir())
	if err != nil {
		t.Fatalf("Busybox in another dir: %v", err)
	}
	if other == first {
		t.Fatalf("another dir got the same path %s", other)
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(other)
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds of the same image differ")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("dir holds %d files, want only the image (no leftover temp files)", len(entries))
	}
}

type rootfsEntry struct {
	hdr  *tar.Header
	data []byte
}

func rootfsEntries(t *testing.T, img v1.Image) map[string]rootfsEntry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, err %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatalf("uncompress layer: %v", err)
	}
	defer rc.Close()
	entries := map[string]rootfsEntry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read layer entry %s: %v", hdr.Name, err)
		}
		entries[hdr.Name] = rootfsEntry{hdr: hdr, data: data}
	}
}
