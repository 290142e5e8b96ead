package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestParseMeminfo(t *testing.T) {
	got := parseMeminfo([]byte("MemTotal:       24683620 kB\nMemAvailable:    1000 kB\nHugePages_Total:       4\nbroken line\n"))
	want := map[string]int64{"MemTotal": 24683620 * 1024, "MemAvailable": 1000 * 1024, "HugePages_Total": 4}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
}

func TestOSReleaseField(t *testing.T) {
	tests := []struct{ data, want string }{
		{"NAME=Debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", "Debian GNU/Linux 12 (bookworm)"},
		{"PRETTY_NAME='Alpine Linux v3.20'\n", "Alpine Linux v3.20"},
		{"PRETTY_NAME=Plain\n", "Plain"},
		{"NAME=x\n", ""},
	}
	for _, tt := range tests {
		if got := osReleaseField([]byte(tt.data), "PRETTY_NAME"); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.data, got, tt.want)
		}
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHostFacts(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages":    "3\n",
		"/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "0\n",
		"/proc/sys/kernel/pid_max":                                  "32768\n",
		"/proc/loadavg":                                             "0.74 1.28 1.79 1/97 4304\n",
		"/usr/lib/os-release":                                       "PRETTY_NAME=\"Test OS\"\n",
	})
	h := host{root: root}
	hp := h.hugepages()
	if q := hp["hugepages-2Mi"]; q.Value() != 3*2<<20 {
		t.Errorf("hugepages-2Mi = %v, want 6Mi", q.String())
	}
	if q, ok := hp["hugepages-1Gi"]; !ok || !q.IsZero() {
		t.Errorf("hugepages-1Gi = %v (present %v), want 0", q.String(), ok)
	}
	limit, used, err := h.pids()
	if err != nil || limit != 32768 || used != 97 {
		t.Errorf("pids = %d, %d, %v", limit, used, err)
	}
	if got := h.osImage(); got != "Test OS" {
		t.Errorf("osImage = %q", got)
	}
}

func TestPressureAndResources(t *testing.T) {
	base := observation{
		eviction:  DefaultEvictionThresholds(),
		cpus:      4,
		meminfo:   map[string]int64{"MemTotal": 4 << 30, "MemAvailable": 2 << 30},
		hugepages: map[string]resource.Quantity{"hugepages-2Mi": *resource.NewQuantity(64<<20, resource.BinarySI)},
		fs:        &fsStats{capacity: 100 << 30, available: 50 << 30, inodes: 1000, inodesFree: 500},
		pidLimit:  1000, pidUsed: 100,
	}
	tests := []struct {
		name   string
		change func(o *observation)
		want   pressure
	}{
		{"healthy", func(*observation) {}, pressure{}},
		{"memory below 100Mi", func(o *observation) { o.meminfo = map[string]int64{"MemTotal": 4 << 30, "MemAvailable": 99 << 20} }, pressure{memory: true}},
		{"disk below 10%", func(o *observation) { o.fs = &fsStats{capacity: 100, available: 9, inodes: 10, inodesFree: 10} }, pressure{disk: true}},
		{"inodes below 5%", func(o *observation) { o.fs = &fsStats{capacity: 100, available: 90, inodes: 100, inodesFree: 4} }, pressure{disk: true}},
		{"pids below 5%", func(o *observation) { o.pidUsed = 960 }, pressure{pid: true}},
		{"unmeasured disk", func(o *observation) { o.fs = nil }, pressure{}},
		{"disk below 10% with nodefs.available<1%", func(o *observation) {
			o.fs = &fsStats{capacity: 100, available: 9, inodes: 10, inodesFree: 10}
			o.eviction.NodefsAvailable = Threshold{Percent: 1}
		}, pressure{}},
		{"disk below imagefs.available<1Gi", func(o *observation) {
			o.eviction.ImagefsAvailable = Threshold{Quantity: 60 << 30}
		}, pressure{disk: true}},
		{"memory thresholds off", func(o *observation) {
			o.meminfo = map[string]int64{"MemTotal": 4 << 30, "MemAvailable": 0}
			o.eviction.MemoryAvailable = Threshold{}
		}, pressure{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.change(&o)
			if got := o.pressure(); got != tt.want {
				t.Errorf("pressure = %+v, want %+v", got, tt.want)
			}
		})
	}

	capacity, allocatable := base.resources()
	checks := []struct {
		list corev1.ResourceList
		name corev1.ResourceName
		want string
	}{
		{capacity, corev1.ResourceCPU, "4"},
		{capacity, corev1.ResourceMemory, "4Gi"},
		{capacity, corev1.ResourcePods, "110"},
		{capacity, corev1.ResourceEphemeralStorage, "100Gi"},
		{capacity, "hugepages-2Mi", "64Mi"},
		{allocatable, corev1.ResourceMemory, "3932Mi"}, // 4Gi - 100Mi - 64Mi of huge pages
		{allocatable, corev1.ResourceEphemeralStorage, "90Gi"},
		{allocatable, corev1.ResourceCPU, "4"},
	}
	for _, c := range checks {
		q := c.list[c.name]
		if want := resource.MustParse(c.want); q.Cmp(want) != 0 {
			t.Errorf("%s = %s, want %s", c.name, q.String(), c.want)
		}
	}
}

func TestConditions(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	first := conditions(nil, pressure{}, "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:cni plugin not initialized", t0)
	byType := func(cs []corev1.NodeCondition, ty corev1.NodeConditionType) corev1.NodeCondition {
		for _, c := range cs {
			if c.Type == ty {
				return c
			}
		}
		t.Fatalf("no %s condition", ty)
		return corev1.NodeCondition{}
	}
	ready := byType(first, corev1.NodeReady)
	if ready.Status != corev1.ConditionFalse || ready.Reason != "KubeletNotReady" || ready.Message == "" {
		t.Errorf("Ready before the network: %+v", ready)
	}
	if mem := byType(first, corev1.NodeMemoryPressure); mem.Reason != "KubeletHasSufficientMemory" || mem.Message != "kubelet has sufficient memory available" {
		t.Errorf("MemoryPressure: %+v", mem)
	}

	second := conditions(first, pressure{disk: true}, "", t1)
	ready = byType(second, corev1.NodeReady)
	if ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" || ready.Message != "kubelet is posting ready status" || !ready.LastTransitionTime.Equal(&t1) {
		t.Errorf("Ready after the network: %+v", ready)
	}
	if disk := byType(second, corev1.NodeDiskPressure); disk.Status != corev1.ConditionTrue || disk.Reason != "KubeletHasDiskPressure" || !disk.LastTransitionTime.Equal(&t1) {
		t.Errorf("DiskPressure: %+v", disk)
	}
	if mem := byType(second, corev1.NodeMemoryPressure); !mem.LastTransitionTime.Equal(&t0) || !mem.LastHeartbeatTime.Equal(&t1) {
		t.Errorf("an unchanged condition must keep its transition time and get a new heartbeat: %+v", mem)
	}
	if sameConditions(first, second) {
		t.Error("changed conditions compare equal")
	}
	third := conditions(second, pressure{disk: true}, "", metav1.NewTime(t1.Add(time.Minute)))
	if !sameConditions(second, third) {
		t.Error("conditions differing only in heartbeats compare unequal")
	}
}

func TestRuntimeProblem(t *testing.T) {
	cond := func(ty string, ok bool, reason, msg string) *runtimeapi.RuntimeCondition {
		return &runtimeapi.RuntimeCondition{Type: ty, Status: ok, Reason: reason, Message: msg}
	}
	status := func(cs ...*runtimeapi.RuntimeCondition) *runtimeapi.StatusResponse {
		return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: cs}}
	}
	tests := []struct {
		name string
		resp *runtimeapi.StatusResponse
		err  error
		want string
	}{
		{"ready", status(cond("RuntimeReady", true, "", ""), cond("NetworkReady", true, "", "")), nil, ""},
		{"network not ready", status(cond("RuntimeReady", true, "", ""), cond("NetworkReady", false, "NetworkPluginNotReady", "Network plugin returns error: cni plugin not initialized")), nil,
			"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"},
		{"both", status(cond("RuntimeReady", false, "R", "m"), cond("NetworkReady", false, "N", "n")), nil,
			"[container runtime not ready: RuntimeReady=false reason:R message:m, container runtime network not ready: NetworkReady=false reason:N message:n]"},
		{"no network condition", status(cond("RuntimeReady", true, "", "")), nil, "container runtime network not ready: <nil>"},
		{"down", nil, os.ErrDeadlineExceeded, "container runtime is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runtimeProblem(tt.resp, tt.err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodeImages(t *testing.T) {
	var imgs []*runtimeapi.Image
	imgs = append(imgs,
		&runtimeapi.Image{Id: "small", RepoTags: []string{"busybox:1.36"}, RepoDigests: []string{"busybox@sha256:aa"}, Size: 10},
		&runtimeapi.Image{Id: "nameless", Size: 1000},
		&runtimeapi.Image{Id: "big", RepoTags: []string{"kite.local/pause:3.10"}, Size: 500},
	)
	for i := 0; i < 60; i++ {
		imgs = append(imgs, &runtimeapi.Image{Id: "x", RepoTags: []string{"filler"}, Size: 1})
	}
	got := nodeImages(imgs)
	if len(got) != maxImages {
		t.Fatalf("listed %d images, want %d", len(got), maxImages)
	}
	if got[0].Names[0] != "kite.local/pause:3.10" || got[0].SizeBytes != 500 {
		t.Errorf("largest first: %+v", got[0])
	}
	if len(got[1].Names) != 2 || got[1].Names[0] != "busybox@sha256:aa" || got[1].Names[1] != "busybox:1.36" {
		t.Errorf("digests then tags: %+v", got[1])
	}
}
