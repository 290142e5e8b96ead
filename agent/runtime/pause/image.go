// Package pause builds kite's sandbox ("pause") image without a registry or
// a toolchain: the program is a few dozen bytes of hand-assembled machine
// code wrapped in an ELF header, and the image is an OCI image-layout tar
// that the agent imports into containerd.
package pause

import (
	"archive/tar"
	"bytes"
	// go-digest computes sha256 only when the hash is linked in.
	_ "crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// Image is the sandbox image reference kite configures containerd with.
	Image = "kite.local/pause:3.10"
	// tag is Image's tag, the OCI ref.name annotation of the layout.
	tag = "3.10"
	// user is the identity the sandbox runs as unless the pod says
	// otherwise; the program needs no privileges. Same as upstream pause.
	user = "65535:65535"
)

// epoch is the modification time of every tar entry, so the bytes (and
// thus the digests) depend only on the content.
var epoch = time.Unix(0, 0).UTC()

// WriteImage writes the pause image for this machine's architecture as an
// OCI image-layout tar, named Image through the io.containerd.image.name
// annotation. The bytes are the same on every call.
func WriteImage(w io.Writer) error {
	return writeImage(w, runtime.GOARCH)
}

func writeImage(w io.Writer, goarch string) error {
	program, err := Program(goarch)
	if err != nil {
		return err
	}
	layer, err := layerTar(program)
	if err != nil {
		return fmt.Errorf("pause image layer: %w", err)
	}
	layerDesc := describe(ocispec.MediaTypeImageLayer, layer)

	config, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: goarch, OS: "linux"},
		Config: ocispec.ImageConfig{
			User:       user,
			Entrypoint: []string{"/pause"},
			WorkingDir: "/",
		},
		RootFS: ocispec.RootFS{
			Type: "layers",
			// The layer is stored uncompressed, so its digest is its diff ID.
			DiffIDs: []digest.Digest{layerDesc.Digest},
		},
		History: []ocispec.History{{Created: &epoch, CreatedBy: "kite pause program"}},
	})
	if err != nil {
		return fmt.Errorf("pause image config: %w", err)
	}
	configDesc := describe(ocispec.MediaTypeImageConfig, config)

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return fmt.Errorf("pause image manifest: %w", err)
	}
	manifestDesc := describe(ocispec.MediaTypeImageManifest, manifest)
	manifestDesc.Platform = &ocispec.Platform{Architecture: goarch, OS: "linux"}
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name": Image,
		ocispec.AnnotationRefName:  tag,
	}

	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	})
	if err != nil {
		return fmt.Errorf("pause image index: %w", err)
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return fmt.Errorf("pause image layout: %w", err)
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, layout},
		{ocispec.ImageIndexFile, index},
		{blobPath(manifestDesc.Digest), manifest},
		{blobPath(configDesc.Digest), config},
		{blobPath(layerDesc.Digest), layer},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(dirHeader(dir, 0o755)); err != nil {
			return fmt.Errorf("write pause image %s: %w", dir, err)
		}
	}
	for _, e := range entries {
		if err := writeFile(tw, e.name, 0o644, e.data); err != nil {
			return fmt.Errorf("write pause image %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write pause image: %w", err)
	}
	return nil
}

// layerTar is the image's only layer: /pause, executable by everyone.
func layerTar(program []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeFile(tw, "pause", 0o755, program); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func describe(mediaType string, blob []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

func dirHeader(name string, mode int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatUSTAR}
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     mode,
		Size:     int64(len(data)),
		ModTime:  epoch,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
