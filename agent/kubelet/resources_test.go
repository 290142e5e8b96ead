package kubelet

import (
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func podWithResources(requests, limits v1.ResourceList) *v1.Pod {
	return &v1.Pod{
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name:      "c",
			Resources: v1.ResourceRequirements{Requests: requests, Limits: limits},
		}}},
	}
}

func TestQOSResources(t *testing.T) {
	const gi = int64(1 << 30)
	q := resource.MustParse
	tests := []struct {
		name       string
		requests   v1.ResourceList
		limits     v1.ResourceList
		wantParent string
		wantShares int64
		wantQuota  int64
		wantMemory int64
		wantOOM    int
	}{
		{
			name:       "best effort",
			wantParent: "/kubepods/besteffort/poduid",
			wantShares: 2, wantOOM: 1000,
		},
		{
			name:       "guaranteed never goes below the kubelet's own score",
			requests:   v1.ResourceList{v1.ResourceCPU: q("500m"), v1.ResourceMemory: q("1Gi")},
			limits:     v1.ResourceList{v1.ResourceCPU: q("500m"), v1.ResourceMemory: q("1Gi")},
			wantParent: "/kubepods/poduid",
			wantShares: 512, wantQuota: 50000, wantMemory: gi, wantOOM: 0,
		},
		{
			name:       "burstable by memory share",
			requests:   v1.ResourceList{v1.ResourceCPU: q("250m"), v1.ResourceMemory: q("1Gi")},
			wantParent: "/kubepods/burstable/poduid",
			wantShares: 256, wantOOM: 750,
		},
		{
			name:       "burstable with a limit only for cpu",
			requests:   v1.ResourceList{v1.ResourceMemory: q("100Mi")},
			limits:     v1.ResourceList{v1.ResourceCPU: q("2")},
			wantParent: "/kubepods/burstable/poduid",
			wantShares: 2048, wantQuota: 200000, wantOOM: 1000 - int(1000*100*(1<<20)/(4*gi)),
		},
		{
			name:       "burstable asking for everything stays above guaranteed",
			requests:   v1.ResourceList{v1.ResourceMemory: q("8Gi")},
			wantParent: "/kubepods/burstable/poduid",
			wantShares: 2, wantOOM: 3,
		},
		{
			name:       "tiny cpu limit gets the minimum quota",
			requests:   v1.ResourceList{v1.ResourceCPU: q("1m")},
			limits:     v1.ResourceList{v1.ResourceCPU: q("1m")},
			wantParent: "/kubepods/burstable/poduid",
			wantShares: 2, wantQuota: 1000, wantOOM: 999,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := podWithResources(tt.requests, tt.limits)
			pod.UID = "uid"
			if got := cgroupParent(pod); got != tt.wantParent {
				t.Errorf("cgroupParent = %q, want %q", got, tt.wantParent)
			}
			r := linuxResources(pod, &pod.Spec.Containers[0], 4*gi, 0)
			if r.CpuShares != tt.wantShares || r.CpuQuota != tt.wantQuota || r.MemoryLimitInBytes != tt.wantMemory || r.OomScoreAdj != int64(tt.wantOOM) {
				t.Errorf("resources = shares %d quota %d memory %d oom %d; want %d %d %d %d",
					r.CpuShares, r.CpuQuota, r.MemoryLimitInBytes, r.OomScoreAdj,
					tt.wantShares, tt.wantQuota, tt.wantMemory, tt.wantOOM)
			}
			if tt.wantQuota != 0 && r.CpuPeriod != cpuQuotaPeriod {
				t.Errorf("period = %d, want %d", r.CpuPeriod, cpuQuotaPeriod)
			}
		})
	}
}

func TestOOMScoreFloor(t *testing.T) {
	pod := podWithResources(nil, nil)
	if got := oomScoreAdj(pod, &pod.Spec.Containers[0], 1<<30, 500); got != 1000 {
		t.Errorf("best effort with floor 500 = %d, want 1000", got)
	}
	g := podWithResources(
		v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("1Gi")},
		v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("1Gi")})
	if got := oomScoreAdj(g, &g.Spec.Containers[0], 1<<32, 200); got != 200 {
		t.Errorf("guaranteed with floor 200 = %d, want 200", got)
	}
}

func TestReadMemoryCapacity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meminfo")
	if err := os.WriteFile(path, []byte("MemFree:  100 kB\nMemTotal:  2048 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readMemoryCapacity(path)
	if err != nil || got != 2048*1024 {
		t.Fatalf("readMemoryCapacity = %d, %v; want %d", got, err, 2048*1024)
	}
	if err := os.WriteFile(path, []byte("MemFree: 1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readMemoryCapacity(path); err == nil {
		t.Fatal("missing MemTotal must be an error")
	}
}
