package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"kite/agent/runtime/pause"
)

const (
	// criNamespace is the containerd namespace the CRI plugin works in.
	criNamespace = "k8s.io"
	// snapshotter is the one kite's containerd is configured with; images
	// are unpacked into it so the first container starts without waiting.
	snapshotter = "overlayfs"

	// Labels the CRI plugin puts on images it pulls: managed ones are the
	// CRI's own, pinned ones are never garbage-collected by the kubelet.
	criManagedLabel = "io.cri-containerd.image"
	criPinnedLabel  = "io.cri-containerd.pinned"
)

// importedFile records an air-gap tarball already imported, so an
// unchanged file is not imported again at the next start.
type importedFile struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	Images  []string  `json:"images"`
}

// imageImporter imports image tarballs into containerd.
type imageImporter struct {
	client *containerd.Client
	log    *slog.Logger
}

// importImages imports kite's pause image and every *.tar in the images
// directory. A tarball that fails is logged and left for the next start;
// only the pause image is essential.
func importImages(ctx context.Context, socket string, p paths, log *slog.Logger) error {
	client, err := containerd.New(socket, containerd.WithDefaultNamespace(criNamespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("connecting to containerd to import images: %w", err)
	}
	defer client.Close()
	imp := imageImporter{client: client, log: log}

	var sandbox bytes.Buffer
	if err := pause.WriteImage(&sandbox); err != nil {
		return fmt.Errorf("building the pause image: %w", err)
	}
	if _, err := imp.importTar(ctx, &sandbox, map[string]string{criManagedLabel: "managed", criPinnedLabel: "pinned"}); err != nil {
		return fmt.Errorf("importing the pause image: %w", err)
	}
	imp.importDir(ctx, p.imagesDir, p.imported)
	return nil
}

// importDir imports the tarballs in dir that changed since the record at
// recordPath was written, or whose images have gone from containerd.
func (imp imageImporter) importDir(ctx context.Context, dir, recordPath string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil || len(files) == 0 {
		return
	}
	record := readImportRecord(recordPath, imp.log)
	next := map[string]importedFile{}
	for _, file := range files {
		info, err := os.Stat(file)
		if err != nil {
			imp.log.Error("cannot read image tarball", "file", file, "err", err)
			continue
		}
		if prev, ok := record[file]; ok && prev.Size == info.Size() && prev.ModTime.Equal(info.ModTime()) && imp.allExist(ctx, prev.Images) {
			next[file] = prev
			continue
		}
		start := time.Now()
		names, err := imp.importFile(ctx, file)
		if err != nil {
			imp.log.Error("importing image tarball failed; it is retried at the next start", "file", file, "err", err)
			continue
		}
		imp.log.Info("imported image tarball", "file", file, "images", names, "took", time.Since(start).Round(time.Millisecond))
		next[file] = importedFile{Size: info.Size(), ModTime: info.ModTime(), Images: names}
	}
	if err := writeImportRecord(recordPath, next); err != nil {
		imp.log.Warn("cannot record imported image tarballs; they are imported again at the next start", "err", err)
	}
}

func (imp imageImporter) importFile(ctx context.Context, file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return imp.importTar(ctx, f, map[string]string{criManagedLabel: "managed"})
}

// importTar imports an OCI image layout or `docker save` archive, labels
// its images for the CRI and unpacks them, returning the image names.
func (imp imageImporter) importTar(ctx context.Context, r io.Reader, labels map[string]string) ([]string, error) {
	imgs, err := imp.client.Import(ctx, r,
		containerd.WithImageRefTranslator(ociRefName),
		containerd.WithImageLabels(labels),
	)
	if err != nil {
		return nil, fmt.Errorf("importing: %w", err)
	}
	if len(imgs) == 0 {
		return nil, errors.New("the archive names no image (OCI layouts need an io.containerd.image.name or a full org.opencontainers.image.ref.name annotation)")
	}
	var names []string
	for _, img := range imgs {
		if err := containerd.NewImage(imp.client, img).Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", img.Name, err)
		}
		names = append(names, img.Name)
	}
	slices.Sort(names)
	return names, nil
}

func (imp imageImporter) allExist(ctx context.Context, names []string) bool {
	for _, name := range names {
		if _, err := imp.client.ImageService().Get(ctx, name); err != nil {
			if !errdefs.IsNotFound(err) {
				imp.log.Warn("cannot look up imported image", "image", name, "err", err)
			}
			return false
		}
	}
	return len(names) > 0
}

// ociRefName turns an OCI layout's org.opencontainers.image.ref.name into
// an image name. Tools write either a full reference (registry/repo:tag)
// or a bare tag; a bare tag names no repository, so it yields no image.
func ociRefName(refName string) string {
	if !strings.ContainsAny(refName, "/:@") {
		return ""
	}
	named, err := reference.ParseDockerRef(refName)
	if err != nil {
		return ""
	}
	return named.String()
}

func readImportRecord(path string, log *slog.Logger) map[string]importedFile {
	record := map[string]importedFile{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return record
	}
	if err == nil {
		err = json.Unmarshal(data, &record)
	}
	if err != nil {
		log.Warn("ignoring unreadable record of imported images", "file", path, "err", err)
		return map[string]importedFile{}
	}
	return record
}

func writeImportRecord(path string, record map[string]importedFile) error {
	data, err := json.MarshalIndent(record, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
