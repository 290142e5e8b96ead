package pause

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestWriteImageIsDeterministic(t *testing.T) {
	var first, second bytes.Buffer
	if err := WriteImage(&first); err != nil {
		t.Fatalf("WriteImage: %v", err)
	}
	if err := WriteImage(&second); err != nil {
		t.Fatalf("WriteImage again: %v", err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("two WriteImage calls wrote different bytes")
	}
}

func TestWriteImageLayout(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		t.Run(goarch, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeImage(&buf, goarch); err != nil {
				t.Fatalf("writeImage: %v", err)
			}
			files := readTar(t, buf.Bytes())

			var layout ocispec.ImageLayout
			decodeJSON(t, files, ocispec.ImageLayoutFile, &layout)
			if layout.Version != ocispec.ImageLayoutVersion {
				t.Errorf("imageLayoutVersion = %q, want %q", layout.Version, ocispec.ImageLayoutVersion)
			}

			var index ocispec.Index
			decodeJSON(t, files, ocispec.ImageIndexFile, &index)
			if len(index.Manifests) != 1 {
				t.Fatalf("index has %d manifests, want 1", len(index.Manifests))
			}
			manifestDesc := index.Manifests[0]
			if got := manifestDesc.Annotations["io.containerd.image.name"]; got != Image {
				t.Errorf("io.containerd.image.name = %q, want %q", got, Image)
			}
			if got := manifestDesc.Annotations[ocispec.AnnotationRefName]; got != "3.10" {
				t.Errorf("%s = %q, want 3.10", ocispec.AnnotationRefName, got)
			}

			var manifest ocispec.Manifest
			decodeJSON(t, files, blob(t, files, manifestDesc), &manifest)
			if manifest.MediaType != ocispec.MediaTypeImageManifest || len(manifest.Layers) != 1 {
				t.Fatalf("manifest media type %q with %d layers, want an OCI manifest with 1 layer", manifest.MediaType, len(manifest.Layers))
			}

			var config ocispec.Image
			decodeJSON(t, files, blob(t, files, manifest.Config), &config)
			if config.OS != "linux" || config.Architecture != goarch {
				t.Errorf("config platform %s/%s, want linux/%s", config.OS, config.Architecture, goarch)
			}
			if len(config.Config.Entrypoint) != 1 || config.Config.Entrypoint[0] != "/pause" {
				t.Errorf("Entrypoint = %q, want [/pause]", config.Config.Entrypoint)
			}

			layerBlob := files[blob(t, files, manifest.Layers[0])]
			if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != digest.FromBytes(layerBlob) {
				t.Errorf("diff IDs %v, want the uncompressed layer's digest", config.RootFS.DiffIDs)
			}
			layer := readTarHeaders(t, layerBlob)
			if len(layer) != 1 || layer[0].hdr.Name != "pause" {
				t.Fatalf("layer entries %v, want only pause", layer)
			}
			if layer[0].hdr.Typeflag != tar.TypeReg || layer[0].hdr.Mode != 0o755 {
				t.Errorf("pause: type %c mode %o, want a regular file with mode 755", layer[0].hdr.Typeflag, layer[0].hdr.Mode)
			}
			want, _ := Program(goarch)
			if !bytes.Equal(layer[0].data, want) {
				t.Errorf("pause in the layer differs from Program(%q)", goarch)
			}
		})
	}
}

func TestWriteImageUsesThisArchitecture(t *testing.T) {
	if _, ok := machines[runtime.GOARCH]; !ok {
		t.Skipf("no pause program for %s", runtime.GOARCH)
	}
	var got, want bytes.Buffer
	if err := WriteImage(&got); err != nil {
		t.Fatalf("WriteImage: %v", err)
	}
	if err := writeImage(&want, runtime.GOARCH); err != nil {
		t.Fatalf("writeImage: %v", err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("WriteImage did not write the %s image", runtime.GOARCH)
	}
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readTarHeaders(t *testing.T, b []byte) []tarEntry {
	t.Helper()
	var entries []tarEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read tar entry %s: %v", hdr.Name, err)
		}
		entries = append(entries, tarEntry{hdr: hdr, data: data})
	}
}

// readTar returns the regular files of a tar by name.
func readTar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, e := range readTarHeaders(t, b) {
		if e.hdr.Typeflag == tar.TypeReg {
			files[e.hdr.Name] = e.data
		}
	}
	return files
}

// blob returns the layout path of a descriptor's blob after checking the
// blob is present with the described size and digest.
func blob(t *testing.T, files map[string][]byte, d ocispec.Descriptor) string {
	t.Helper()
	name := "blobs/sha256/" + d.Digest.Encoded()
	data, ok := files[name]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if int64(len(data)) != d.Size || digest.FromBytes(data) != d.Digest {
		t.Fatalf("blob %s has %d bytes and digest %s, descriptor says %d bytes", d.Digest, len(data), digest.FromBytes(data), d.Size)
	}
	return name
}

func decodeJSON(t *testing.T, files map[string][]byte, name string, v any) {
	t.Helper()
	data, ok := files[name]
	if !ok {
		t.Fatalf("%s missing from the layout", name)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}
