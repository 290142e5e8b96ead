package kubelet

import (
	"context"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

// relistPeriod is how often the runtime is listed to notice container
// exits and sandbox deaths quickly.
const relistPeriod = time.Second

// relistLoop lists every sandbox and container each second and wakes the
// workers of pods whose runtime state changed, as upstream's PLEG does.
func (k *Kubelet) relistLoop(ctx context.Context) {
	t := time.NewTicker(relistPeriod)
	defer t.Stop()
	var previous map[types.UID]string
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		current, err := k.relist(ctx)
		if err != nil {
			if msg := err.Error(); msg != lastErr && ctx.Err() == nil {
				k.log.Warn("listing the runtime failed", "err", err)
				lastErr = msg
			}
			continue
		}
		lastErr = ""
		for _, uid := range changedPods(previous, current) {
			k.wakePod(uid)
		}
		previous = current
	}
}

// relist fingerprints the runtime state of every pod.
func (k *Kubelet) relist(ctx context.Context) (map[types.UID]string, error) {
	sandboxes, err := k.cfg.Runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		return nil, err
	}
	containers, err := k.cfg.Runtime.ListContainers(ctx, nil)
	if err != nil {
		return nil, err
	}
	return fingerprints(sandboxes, containers), nil
}

// fingerprints summarises, per pod UID, which sandboxes and containers
// exist and in which state.
func fingerprints(sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) map[types.UID]string {
	parts := map[types.UID][]string{}
	for _, s := range sandboxes {
		uid := types.UID(s.Labels[crilabels.PodUID])
		parts[uid] = append(parts[uid], "s:"+s.Id+":"+s.State.String())
	}
	for _, c := range containers {
		uid := types.UID(c.Labels[crilabels.PodUID])
		parts[uid] = append(parts[uid], "c:"+c.Id+":"+c.State.String())
	}
	out := make(map[types.UID]string, len(parts))
	for uid, p := range parts {
		if uid == "" {
			continue
		}
		sort.Strings(p)
		out[uid] = strings.Join(p, ",")
	}
	return out
}

// changedPods lists the pods whose fingerprint differs between two
// relists (appeared, changed or vanished).
func changedPods(previous, current map[types.UID]string) []types.UID {
	var out []types.UID
	for uid, fp := range current {
		if previous[uid] != fp {
			out = append(out, uid)
		}
	}
	for uid := range previous {
		if _, ok := current[uid]; !ok {
			out = append(out, uid)
		}
	}
	return out
}
