package images

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var busyboxTars struct {
	sync.Mutex
	byDir map[string]string
}

// Busybox writes the busybox image as an OCI image-layout tar in dir (once
// per dir in this process) and returns its path. containerd imports it as
// BusyboxRef, the name in its io.containerd.image.name annotation.
func Busybox(dir string) (tarPath string, err error) {
	busyboxTars.Lock()
	defer busyboxTars.Unlock()
	if path, ok := busyboxTars.byDir[dir]; ok {
		return path, nil
	}
	img, err := BusyboxImage()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "busybox-"+busyboxTag+".tar")
	if err := writeLayoutFile(path, img, BusyboxRef); err != nil {
		return "", err
	}
	if busyboxTars.byDir == nil {
		busyboxTars.byDir = map[string]string{}
	}
	busyboxTars.byDir[dir] = path
	return path, nil
}

// writeLayoutFile writes through a temp file and a rename, so a reader
// (or another test process sharing dir) never sees half an image.
func writeLayoutFile(path string, img v1.Image, ref string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".busybox-*.tar")
	if err != nil {
		return fmt.Errorf("write image %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := writeLayout(tmp, img, ref); err != nil {
		tmp.Close()
		return fmt.Errorf("write image %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write image %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write image %s: %w", path, err)
	}
	return nil
}

// writeLayout writes img as an OCI image-layout tar whose index names it ref
// the way containerd's importer and OCI tools read names.
func writeLayout(w io.Writer, img v1.Image, ref string) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("manifest digest: %w", err)
	}
	manifestType, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("manifest media type: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("config digest: %w", err)
	}
	configFile, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}

	tag := ref[strings.LastIndex(ref, ":")+1:]
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: manifestType,
			Size:      int64(len(manifest)),
			Digest:    manifestDigest,
			Platform:  configFile.Platform(),
			Annotations: map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}

	tw := tar.NewWriter(w)
	if err := writeTarFile(tw, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := writeTarFile(tw, "index.json", index); err != nil {
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(header(tar.TypeDir, dir, 0o755, 0)); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	if err := writeTarFile(tw, blobName(manifestDigest), manifest); err != nil {
		return err
	}
	if err := writeTarFile(tw, blobName(configDigest), config); err != nil {
		return err
	}
	for _, layer := range layers {
		if err := writeLayerBlob(tw, layer); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish tar: %w", err)
	}
	return nil
}

func writeLayerBlob(tw *tar.Writer, layer v1.Layer) error {
	digest, err := layer.Digest()
	if err != nil {
		return fmt.Errorf("layer digest: %w", err)
	}
	size, err := layer.Size()
	if err != nil {
		return fmt.Errorf("layer %s size: %w", digest, err)
	}
	blob, err := layer.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	defer blob.Close()
	if err := tw.WriteHeader(header(tar.TypeReg, blobName(digest), 0o644, size)); err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	if _, err := io.Copy(tw, blob); err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	return nil
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(header(tar.TypeReg, name, 0o644, int64(len(data)))); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func blobName(h v1.Hash) string {
	return "blobs/" + h.Algorithm + "/" + h.Hex
}
