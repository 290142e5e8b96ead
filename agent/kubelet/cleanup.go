package kubelet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

// cleanupPod removes everything a stopped pod left: sandboxes with their
// containers, volumes, the pod directory, its logs and cgroups.
func (k *Kubelet) cleanupPod(ctx context.Context, ref podRef, rp *runtimePod) error {
	var errs []error
	for _, rc := range rp.Containers {
		if rc.running() {
			if err := k.cfg.Runtime.StopContainer(ctx, rc.ID, minGracePeriod); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("stop container %s: %w", rc.ID, err))
			}
		}
	}
	for _, sb := range rp.Sandboxes {
		if err := k.cfg.Runtime.StopPodSandbox(ctx, sb.ID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("stop sandbox %s: %w", sb.ID, err))
			continue
		}
		if err := k.cfg.Runtime.RemovePodSandbox(ctx, sb.ID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", sb.ID, err))
		}
	}
	// Containers whose sandbox is already gone.
	for _, rc := range rp.Containers {
		if err := k.cfg.Runtime.RemoveContainer(ctx, rc.ID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", rc.ID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("clean up runtime state of pod %s: %w", ref.UID, errors.Join(errs...))
	}
	k.probes.forgetPod(ref.UID)
	k.crashBackoff.forgetPrefix(string(ref.UID) + "/")
	k.pullBackoff.forgetPrefix(string(ref.UID) + "/")
	if err := k.removePodDir(ref.UID); err != nil {
		return err
	}
	if ref.Name != "" {
		logDir := filepath.Join(k.cfg.PodLogsDir, fmt.Sprintf("%s_%s_%s", ref.Namespace, ref.Name, ref.UID))
		if err := os.RemoveAll(logDir); err != nil {
			return fmt.Errorf("remove logs of pod %s: %w", ref.UID, err)
		}
	}
	removePodCgroups("/sys/fs/cgroup", ref.UID)
	return nil
}

// removePodDir tears the volumes down and removes the pod directory, but
// never while anything is still mounted below it: removing through a
// mount would delete the mounted data.
func (k *Kubelet) removePodDir(uid types.UID) error {
	if err := k.volumes.Teardown(uid); err != nil {
		return fmt.Errorf("tear down volumes of pod %s: %w", uid, err)
	}
	dir := k.podDir(uid)
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("pod directory %s still has mounts: %s", dir, strings.Join(mounts, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove pod directory %s: %w", dir, err)
	}
	return nil
}

// mountsUnder lists mount points at or below dir.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	return out, nil
}

// unescapeMountPath undoes the octal escapes of /proc/self/mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removePodCgroups removes the pod's now empty cgroup directories in every
// hierarchy; the runtime removes the containers' own but not the parents
// it created for the pod.
func removePodCgroups(root string, uid types.UID) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	name := "pod" + string(uid)
	for _, e := range entries {
		for _, qos := range []string{"", "burstable", "besteffort"} {
			_ = os.Remove(filepath.Join(root, e.Name(), "kubepods", qos, name))
		}
	}
}

// removeDeadInstances keeps, per container name, the newest exited
// instance (for `kubectl logs --previous`) and removes the older ones, and
// removes dead sandboxes other than the current one.
func (k *Kubelet) removeDeadInstances(ctx context.Context, rp *runtimePod, currentSandbox string) {
	kept := map[string]bool{}
	for _, rc := range rp.Containers {
		if !rc.exited() {
			continue
		}
		if !kept[rc.Name] {
			kept[rc.Name] = true
			continue
		}
		if err := k.cfg.Runtime.RemoveContainer(ctx, rc.ID); err != nil && !isNotFound(err) {
			k.log.Warn("removing dead container failed", "id", rc.ID, "err", err)
		}
	}
	for _, sb := range rp.Sandboxes {
		if sb.ID == currentSandbox || sb.Ready {
			continue
		}
		if err := k.cfg.Runtime.RemovePodSandbox(ctx, sb.ID); err != nil && !isNotFound(err) {
			k.log.Warn("removing dead sandbox failed", "id", sb.ID, "err", err)
		}
	}
}

// collectOrphans removes runtime state and pod directories of pods this
// kubelet no longer knows: deleted while it was down, or left behind by a
// failed cleanup.
func (k *Kubelet) collectOrphans(ctx context.Context) {
	sandboxes, err := k.cfg.Runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		k.log.Warn("listing sandboxes for garbage collection failed", "err", err)
		return
	}
	containers, err := k.cfg.Runtime.ListContainers(ctx, nil)
	if err != nil {
		k.log.Warn("listing containers for garbage collection failed", "err", err)
		return
	}
	orphans := map[types.UID]podRef{}
	note := func(labels map[string]string) {
		uid := types.UID(labels[crilabels.PodUID])
		if uid == "" || k.isKnownPod(uid) {
			return
		}
		orphans[uid] = podRef{UID: uid, Namespace: labels[crilabels.PodNamespace], Name: labels[crilabels.PodName]}
	}
	for _, s := range sandboxes {
		note(s.Labels)
	}
	for _, c := range containers {
		note(c.Labels)
	}
	if entries, err := os.ReadDir(k.cfg.podsDir()); err == nil {
		for _, e := range entries {
			uid := types.UID(e.Name())
			if _, seen := orphans[uid]; !seen && e.IsDir() && !k.isKnownPod(uid) {
				orphans[uid] = podRef{UID: uid}
			}
		}
	}
	for uid, ref := range orphans {
		rp := runtimePodOf(uid, sandboxes, containers)
		k.log.Info("removing orphaned pod", "uid", uid, "namespace", ref.Namespace, "name", ref.Name,
			"sandboxes", len(rp.Sandboxes), "containers", len(rp.Containers))
		if err := k.cleanupPod(ctx, ref, rp); err != nil {
			k.log.Warn("removing orphaned pod failed", "uid", uid, "err", err)
		}
	}
}

// isKnownPod: the pod is desired or its worker is still busy with it.
func (k *Kubelet) isKnownPod(uid types.UID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, desired := k.pods[uid]
	_, working := k.workers[uid]
	return desired || working
}

// runtimePodOf picks one pod's sandboxes and containers from full lists.
func runtimePodOf(uid types.UID, sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) *runtimePod {
	rp := &runtimePod{}
	for _, s := range sandboxes {
		if types.UID(s.Labels[crilabels.PodUID]) == uid {
			rp.Sandboxes = append(rp.Sandboxes, &runtimeSandbox{ID: s.Id, Ready: s.State == runtimeapi.PodSandboxState_SANDBOX_READY})
		}
	}
	for _, c := range containers {
		if types.UID(c.Labels[crilabels.PodUID]) == uid {
			rp.Containers = append(rp.Containers, runtimeContainerFrom(c, nil))
		}
	}
	return rp
}
