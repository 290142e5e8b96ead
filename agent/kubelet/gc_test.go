package kubelet

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

func TestImagesToRemove(t *testing.T) {
	t0 := testEpoch
	images := []*runtimeapi.Image{
		{Id: "sha256:pause", RepoTags: []string{"kite.local/pause:3.10"}, Size: 1000},
		{Id: "sha256:used", RepoTags: []string{"busybox:1.36"}, Size: 1000},
		{Id: "sha256:old", Size: 300},
		{Id: "sha256:older", Size: 300},
		{Id: "sha256:new", Size: 300},
		{Id: "sha256:pinned", Pinned: true, Size: 1000},
		{Id: "sha256:just-imported", Size: 5000},
	}
	inUse := map[string]bool{"busybox:1.36": true}
	young := map[string]bool{"sha256:just-imported": true}
	lastUsed := map[string]time.Time{
		"sha256:old": t0.Add(2 * time.Hour), "sha256:older": t0.Add(time.Hour), "sha256:new": t0.Add(3 * time.Hour),
	}
	tests := []struct {
		toFree uint64
		want   []string
	}{
		{1, []string{"sha256:older"}},
		{400, []string{"sha256:older", "sha256:old"}},
		{10000, []string{"sha256:older", "sha256:old", "sha256:new"}},
	}
	for _, tt := range tests {
		var got []string
		for _, img := range imagesToRemove(images, inUse, young, lastUsed, "kite.local/pause:3.10", tt.toFree) {
			got = append(got, img.Id)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("toFree %d: removed %v, want %v", tt.toFree, got, tt.want)
		}
	}
}

func TestChangedPods(t *testing.T) {
	prev := fingerprints(
		[]*runtimeapi.PodSandbox{{Id: "s1", State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: map[string]string{crilabels.PodUID: "a"}}},
		[]*runtimeapi.Container{
			{Id: "c1", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: map[string]string{crilabels.PodUID: "a"}},
			{Id: "c2", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: map[string]string{crilabels.PodUID: "b"}},
			{Id: "c3", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: map[string]string{crilabels.PodUID: "c"}},
		})
	cur := fingerprints(
		[]*runtimeapi.PodSandbox{{Id: "s1", State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: map[string]string{crilabels.PodUID: "a"}}},
		[]*runtimeapi.Container{
			{Id: "c1", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: map[string]string{crilabels.PodUID: "a"}},
			{Id: "c2", State: runtimeapi.ContainerState_CONTAINER_EXITED, Labels: map[string]string{crilabels.PodUID: "b"}},
			{Id: "c4", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: map[string]string{crilabels.PodUID: "d"}},
			{Id: "x", State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		})
	got := map[types.UID]bool{}
	for _, uid := range changedPods(prev, cur) {
		got[uid] = true
	}
	want := map[types.UID]bool{"b": true, "c": true, "d": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changed = %v, want %v", got, want)
	}
}

func TestRemovePodCgroups(t *testing.T) {
	root := t.TempDir()
	uid := types.UID("1234")
	dirs := []string{
		"cpu/kubepods/burstable/pod1234",
		"memory/kubepods/burstable/pod1234",
		"memory/kubepods/burstable/pod9999",
		"pids/kubepods/pod1234/busy",
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removePodCgroups(root, uid)
	for _, tt := range []struct {
		path   string
		exists bool
	}{
		{"cpu/kubepods/burstable/pod1234", false},
		{"memory/kubepods/burstable/pod1234", false},
		{"memory/kubepods/burstable/pod9999", true},
		{"pids/kubepods/pod1234", true}, // not empty: a cgroup still in use stays
	} {
		_, err := os.Stat(filepath.Join(root, tt.path))
		if exists := err == nil; exists != tt.exists {
			t.Errorf("%s exists = %v, want %v", tt.path, exists, tt.exists)
		}
	}
}

func TestUnescapeMountPath(t *testing.T) {
	if got := unescapeMountPath(`/var/lib/with\040space`); got != "/var/lib/with space" {
		t.Errorf("got %q", got)
	}
	if got := unescapeMountPath(`/plain`); got != "/plain" {
		t.Errorf("got %q", got)
	}
}
