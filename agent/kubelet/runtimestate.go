package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

// runtimeContainer is one container instance as the runtime reports it.
type runtimeContainer struct {
	ID           string
	Name         string
	SandboxID    string
	RestartCount int
	Hash         string
	State        runtimeapi.ContainerState
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	ExitCode     int32
	Reason       string
	Message      string
	Image        string
	ImageRef     string
	LogPath      string
}

func (c *runtimeContainer) running() bool {
	return c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
}

func (c *runtimeContainer) exited() bool {
	return c.State == runtimeapi.ContainerState_CONTAINER_EXITED
}

// runtimeSandbox is one sandbox instance of a pod.
type runtimeSandbox struct {
	ID        string
	Attempt   uint32
	Ready     bool
	CreatedAt time.Time
}

// runtimePod is everything the runtime holds for one pod UID, newest first.
type runtimePod struct {
	Sandboxes  []*runtimeSandbox
	Containers []*runtimeContainer
}

// latestSandbox is the newest sandbox, or nil.
func (p *runtimePod) latestSandbox() *runtimeSandbox {
	if len(p.Sandboxes) == 0 {
		return nil
	}
	return p.Sandboxes[0]
}

// instances lists the instances of one container name, newest first.
func (p *runtimePod) instances(name string) []*runtimeContainer {
	var out []*runtimeContainer
	for _, c := range p.Containers {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// latest is the newest instance of a container name, or nil.
func (p *runtimePod) latest(name string) *runtimeContainer {
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// latestIn is the newest instance of a container name in one sandbox.
func (p *runtimePod) latestIn(name, sandboxID string) *runtimeContainer {
	for _, c := range p.Containers {
		if c.Name == name && c.SandboxID == sandboxID {
			return c
		}
	}
	return nil
}

// nextRestartCount is the restart count a new instance of name gets.
func (p *runtimePod) nextRestartCount(name string) int {
	if c := p.latest(name); c != nil {
		return c.RestartCount + 1
	}
	return 0
}

// readRuntimePod asks the runtime for every sandbox and container of a pod.
func (k *Kubelet) readRuntimePod(ctx context.Context, uid types.UID) (*runtimePod, error) {
	selector := map[string]string{crilabels.PodUID: string(uid)}
	sandboxes, err := k.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes of pod %s: %w", uid, err)
	}
	containers, err := k.cfg.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	rp := &runtimePod{}
	for _, s := range sandboxes {
		rp.Sandboxes = append(rp.Sandboxes, &runtimeSandbox{
			ID:        s.Id,
			Attempt:   s.GetMetadata().GetAttempt(),
			Ready:     s.State == runtimeapi.PodSandboxState_SANDBOX_READY,
			CreatedAt: time.Unix(0, s.CreatedAt),
		})
	}
	for _, c := range containers {
		resp, err := k.cfg.Runtime.ContainerStatus(ctx, c.Id, false)
		if err != nil {
			if isNotFound(err) {
				continue // removed between list and status
			}
			return nil, fmt.Errorf("status of container %s: %w", c.Id, err)
		}
		rp.Containers = append(rp.Containers, runtimeContainerFrom(c, resp.GetStatus()))
	}
	sortRuntimePod(rp)
	return rp, nil
}

func runtimeContainerFrom(c *runtimeapi.Container, st *runtimeapi.ContainerStatus) *runtimeContainer {
	rc := &runtimeContainer{
		ID:        c.Id,
		Name:      c.GetMetadata().GetName(),
		SandboxID: c.PodSandboxId,
		Hash:      c.Annotations[crilabels.ContainerHashAnnotation],
		State:     c.State,
		CreatedAt: time.Unix(0, c.CreatedAt),
		Image:     c.GetImage().GetImage(),
		ImageRef:  c.ImageRef,
	}
	if n, err := strconv.Atoi(c.Annotations[crilabels.RestartCountAnnotation]); err == nil {
		rc.RestartCount = n
	} else {
		rc.RestartCount = int(c.GetMetadata().GetAttempt())
	}
	if st != nil {
		rc.State = st.State
		rc.ExitCode = st.ExitCode
		rc.Reason = st.Reason
		rc.Message = st.Message
		rc.LogPath = st.LogPath
		if st.GetImage().GetImage() != "" {
			rc.Image = st.GetImage().GetImage()
		}
		if st.ImageRef != "" {
			rc.ImageRef = st.ImageRef
		}
		if st.StartedAt > 0 {
			rc.StartedAt = time.Unix(0, st.StartedAt)
		}
		if st.FinishedAt > 0 {
			rc.FinishedAt = time.Unix(0, st.FinishedAt)
		}
	}
	return rc
}

// sortRuntimePod orders sandboxes and containers newest first; restart
// counts break ties of equal creation times.
func sortRuntimePod(rp *runtimePod) {
	sort.SliceStable(rp.Sandboxes, func(i, j int) bool {
		a, b := rp.Sandboxes[i], rp.Sandboxes[j]
		if a.Attempt != b.Attempt {
			return a.Attempt > b.Attempt
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	sort.SliceStable(rp.Containers, func(i, j int) bool {
		a, b := rp.Containers[i], rp.Containers[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.RestartCount > b.RestartCount
	})
}
