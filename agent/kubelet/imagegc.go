package kubelet

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// imageGCPeriod is how often the image filesystem is checked.
const imageGCPeriod = 5 * time.Minute

// imageMinimumGCAge protects images seen for the first time less than this
// ago (upstream's ImageMinimumGCAge): an image just imported or pulled is
// about to be used, even if no container uses it yet.
const imageMinimumGCAge = 2 * time.Minute

// imageGC frees the image filesystem when it runs full: unused images go,
// least recently used first, never the sandbox image or pinned ones.
type imageGC struct {
	k *Kubelet

	mu        sync.Mutex
	lastUsed  map[string]time.Time // image ID -> last seen in use (or first seen)
	firstSeen map[string]time.Time // image ID -> first seen by this kubelet
}

func newImageGC(k *Kubelet) *imageGC {
	return &imageGC{k: k, lastUsed: map[string]time.Time{}, firstSeen: map[string]time.Time{}}
}

func (g *imageGC) loop(ctx context.Context) {
	t := time.NewTicker(imageGCPeriod)
	defer t.Stop()
	for {
		if err := g.collect(ctx); err != nil && ctx.Err() == nil {
			g.k.log.Warn("image garbage collection failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// collect removes images when usage is above the high threshold, until it
// is at the low threshold.
func (g *imageGC) collect(ctx context.Context) error {
	if g.k.cfg.ImageGCHighThresholdPercent >= 100 {
		return nil // 100% turns collection off, as for the kubelet
	}
	images, err := g.k.cfg.Images.ListImages(ctx, nil)
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	containers, err := g.k.cfg.Runtime.ListContainers(ctx, nil)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	inUse := map[string]bool{}
	for _, c := range containers {
		inUse[c.ImageRef] = true
		inUse[c.GetImage().GetImage()] = true
	}
	now := time.Now()
	g.mu.Lock()
	present := map[string]bool{}
	for _, img := range images {
		present[img.Id] = true
		if _, seen := g.firstSeen[img.Id]; !seen {
			g.firstSeen[img.Id] = now
		}
		if _, seen := g.lastUsed[img.Id]; !seen || imageInUse(img, inUse) {
			g.lastUsed[img.Id] = now
		}
	}
	for id := range g.lastUsed {
		if !present[id] {
			delete(g.lastUsed, id)
			delete(g.firstSeen, id)
		}
	}
	lastUsed := make(map[string]time.Time, len(g.lastUsed))
	for id, t := range g.lastUsed {
		lastUsed[id] = t
	}
	young := map[string]bool{}
	for id, t := range g.firstSeen {
		if now.Sub(t) < imageMinimumGCAge {
			young[id] = true
		}
	}
	g.mu.Unlock()

	capacity, used, err := g.imageFsUsage(ctx)
	if err != nil {
		return err
	}
	if capacity == 0 || used*100 < capacity*uint64(g.k.cfg.ImageGCHighThresholdPercent) {
		return nil
	}
	toFree := used - capacity*uint64(g.k.cfg.ImageGCLowThresholdPercent)/100
	victims := imagesToRemove(images, inUse, young, lastUsed, g.k.cfg.SandboxImage, toFree)
	g.k.log.Info("image filesystem above threshold, removing unused images",
		"usedPercent", used*100/capacity, "bytesToFree", toFree, "images", len(victims))
	var freed uint64
	for _, img := range victims {
		if err := g.k.cfg.Images.RemoveImage(ctx, &runtimeapi.ImageSpec{Image: img.Id}); err != nil && !isNotFound(err) {
			g.k.log.Warn("removing image failed", "image", img.Id, "tags", img.RepoTags, "err", err)
			continue
		}
		freed += img.Size
	}
	if freed < toFree {
		return fmt.Errorf("freed %d of the %d bytes wanted on the image filesystem", freed, toFree)
	}
	return nil
}

// imageFsUsage is the capacity and used bytes of the filesystem holding
// the images.
func (g *imageGC) imageFsUsage(ctx context.Context) (capacity, used uint64, err error) {
	resp, err := g.k.cfg.Images.ImageFsInfo(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("image filesystem info: %w", err)
	}
	fss := resp.GetImageFilesystems()
	if len(fss) == 0 || fss[0].GetFsId().GetMountpoint() == "" {
		return 0, 0, nil
	}
	var st unix.Statfs_t
	mp := fss[0].GetFsId().GetMountpoint()
	if err := unix.Statfs(mp, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", mp, err)
	}
	capacity = st.Blocks * uint64(st.Bsize)
	used = capacity - st.Bavail*uint64(st.Bsize)
	return capacity, used, nil
}

func imageInUse(img *runtimeapi.Image, inUse map[string]bool) bool {
	if inUse[img.Id] {
		return true
	}
	for _, t := range img.RepoTags {
		if inUse[t] {
			return true
		}
	}
	for _, d := range img.RepoDigests {
		if inUse[d] {
			return true
		}
	}
	return false
}

// imagesToRemove picks unused, unpinned images other than the sandbox
// image, least recently used first, until their sizes add up to toFree.
func imagesToRemove(images []*runtimeapi.Image, inUse, young map[string]bool, lastUsed map[string]time.Time,
	sandboxImage string, toFree uint64) []*runtimeapi.Image {
	var candidates []*runtimeapi.Image
	for _, img := range images {
		if img.Pinned || imageInUse(img, inUse) || young[img.Id] || hasTag(img, sandboxImage) {
			continue
		}
		candidates = append(candidates, img)
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		return lastUsed[candidates[i].Id].Before(lastUsed[candidates[j].Id])
	})
	var out []*runtimeapi.Image
	var sum uint64
	for _, img := range candidates {
		if sum >= toFree {
			break
		}
		out = append(out, img)
		sum += img.Size
	}
	return out
}

func hasTag(img *runtimeapi.Image, ref string) bool {
	for _, t := range img.RepoTags {
		if t == ref {
			return true
		}
	}
	return false
}
