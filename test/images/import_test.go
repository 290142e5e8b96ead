package images

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/log"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// containerd's own importer (what the agent uses for air-gap images) must
// accept the busybox tar, name it BusyboxRef and find a complete image for
// this platform.
func TestContainerdImportsBusybox(t *testing.T) {
	// The local store warns that tmpfs lacks fs-verity; only errors matter here.
	if err := log.SetLevel("error"); err != nil {
		t.Fatalf("set containerd log level: %v", err)
	}
	path, err := Busybox(t.TempDir())
	if err != nil {
		t.Fatalf("Busybox: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	ctx := context.Background()
	store, err := local.NewStore(t.TempDir())
	if err != nil {
		t.Fatalf("content store: %v", err)
	}
	indexDesc, err := archive.ImportIndex(ctx, store, f)
	if err != nil {
		t.Fatalf("containerd import: %v", err)
	}
	indexJSON, err := content.ReadBlob(ctx, store, indexDesc)
	if err != nil {
		t.Fatalf("read imported index: %v", err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(indexJSON, &index); err != nil {
		t.Fatalf("decode imported index: %v", err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations[images.AnnotationImageName] != BusyboxRef {
		t.Fatalf("imported index manifests %+v, want one named %s", index.Manifests, BusyboxRef)
	}

	platform := platforms.Only(platforms.DefaultSpec())
	available, _, _, missing, err := images.Check(ctx, store, index.Manifests[0], platform)
	if err != nil || !available || len(missing) != 0 {
		t.Fatalf("image check: available %v, missing %v, err %v", available, missing, err)
	}
	manifest, err := images.Manifest(ctx, store, index.Manifests[0], platform)
	if err != nil {
		t.Fatalf("resolve manifest for %s: %v", platforms.DefaultString(), err)
	}
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("layers %+v, want one gzip OCI layer", manifest.Layers)
	}
}
