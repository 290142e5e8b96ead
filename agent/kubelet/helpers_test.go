package kubelet

import (
	"time"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// staticVerdicts are fixed probe results for planning and status tests.
type staticVerdicts struct {
	notStarted map[string]bool
	notReady   map[string]bool
	condemned  map[string]string
}

func (v staticVerdicts) started(id string) bool { return !v.notStarted[id] }
func (v staticVerdicts) ready(id string) bool   { return !v.notReady[id] }
func (v staticVerdicts) unhealthy(id string) (string, *int64) {
	return v.condemned[id], nil
}

var testEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func running(id, name, sandbox string, restart int, spec *v1.Container) *runtimeContainer {
	rc := &runtimeContainer{
		ID: id, Name: name, SandboxID: sandbox, RestartCount: restart,
		State:     runtimeapi.ContainerState_CONTAINER_RUNNING,
		CreatedAt: testEpoch.Add(time.Duration(restart) * time.Minute),
		StartedAt: testEpoch.Add(time.Duration(restart)*time.Minute + time.Second),
		ImageRef:  "sha256:img",
		Image:     "docker.io/library/busybox:1.36",
	}
	if spec != nil {
		rc.Hash = containerHash(spec)
	}
	return rc
}

func exited(id, name, sandbox string, restart int, code int32) *runtimeContainer {
	rc := running(id, name, sandbox, restart, nil)
	rc.State = runtimeapi.ContainerState_CONTAINER_EXITED
	rc.ExitCode = code
	rc.FinishedAt = rc.StartedAt.Add(10 * time.Second)
	return rc
}

func testPod(policy v1.RestartPolicy, initNames []string, names ...string) *v1.Pod {
	pod := &v1.Pod{}
	pod.Name, pod.Namespace, pod.UID = "web", "default", "uid-1"
	pod.Spec.RestartPolicy = policy
	for _, n := range initNames {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, v1.Container{Name: n, Image: "busybox:1.36"})
	}
	for _, n := range names {
		pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: n, Image: "busybox:1.36"})
	}
	return pod
}

func withSandbox(containers ...*runtimeContainer) *runtimePod {
	rp := &runtimePod{
		Sandboxes:  []*runtimeSandbox{{ID: "sb1", Ready: true, CreatedAt: testEpoch}},
		Containers: containers,
	}
	sortRuntimePod(rp)
	return rp
}
