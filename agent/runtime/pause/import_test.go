package pause

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/log"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// containerd's own importer (what `ctr images import` and the agent use)
// must accept the layout, name it Image and find a complete image for this
// platform.
func TestContainerdImportsImage(t *testing.T) {
	if _, ok := machines[runtime.GOARCH]; !ok {
		t.Skipf("no pause program for %s", runtime.GOARCH)
	}
	// The local store warns that tmpfs lacks fs-verity; only errors matter here.
	if err := log.SetLevel("error"); err != nil {
		t.Fatalf("set containerd log level: %v", err)
	}
	ctx := context.Background()
	store, err := local.NewStore(t.TempDir())
	if err != nil {
		t.Fatalf("content store: %v", err)
	}
	var buf bytes.Buffer
	if err := WriteImage(&buf); err != nil {
		t.Fatalf("WriteImage: %v", err)
	}
	indexDesc, err := archive.ImportIndex(ctx, store, &buf)
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
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations[images.AnnotationImageName] != Image {
		t.Fatalf("imported index manifests %+v, want one named %s", index.Manifests, Image)
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
	diffIDs, err := images.RootFS(ctx, store, manifest.Config)
	if err != nil || len(diffIDs) != 1 {
		t.Fatalf("rootfs diff IDs %v, err %v; want one", diffIDs, err)
	}
	if !images.IsLayerType(manifest.Layers[0].MediaType) {
		t.Fatalf("layer media type %q is not a layer type containerd unpacks", manifest.Layers[0].MediaType)
	}
}
