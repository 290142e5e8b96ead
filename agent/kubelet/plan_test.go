package kubelet

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// planSummary is a plan reduced to names for comparison.
type planSummary struct {
	Kill, Remove, Start, Restart []string
	InitDone, InitFailed         bool
}

func summarise(p podPlan) planSummary {
	var s planSummary
	for _, k := range p.Kill {
		s.Kill = append(s.Kill, k.Container.ID)
	}
	for _, r := range p.Remove {
		s.Remove = append(s.Remove, r.ID)
	}
	for _, st := range p.Start {
		if st.Previous != nil {
			s.Restart = append(s.Restart, st.Spec.Name)
		} else {
			s.Start = append(s.Start, st.Spec.Name)
		}
	}
	s.InitDone, s.InitFailed = p.InitDone, p.InitFailed
	return s
}

func TestPlanPod(t *testing.T) {
	always := testPod(v1.RestartPolicyAlways, nil, "app", "side")
	never := testPod(v1.RestartPolicyNever, nil, "app")
	onFailure := testPod(v1.RestartPolicyOnFailure, nil, "app")
	withInit := testPod(v1.RestartPolicyAlways, []string{"init1", "init2"}, "app")
	initNever := testPod(v1.RestartPolicyNever, []string{"init1"}, "app")
	sidecarPod := testPod(v1.RestartPolicyNever, []string{"proxy"}, "app")
	restartAlways := v1.ContainerRestartPolicyAlways
	sidecarPod.Spec.InitContainers[0].RestartPolicy = &restartAlways
	changed := testPod(v1.RestartPolicyAlways, nil, "app")
	oldSpec := changed.Spec.Containers[0].DeepCopy()
	changed.Spec.Containers[0].Image = "busybox:1.37"

	appOf := func(p *v1.Pod) *v1.Container { return &p.Spec.Containers[0] }

	tests := []struct {
		name     string
		pod      *v1.Pod
		rp       *runtimePod
		verdicts staticVerdicts
		want     planSummary
	}{
		{
			name: "fresh pod starts every app container",
			pod:  always, rp: withSandbox(),
			want: planSummary{Start: []string{"app", "side"}, InitDone: true},
		},
		{
			name: "running containers are left alone",
			pod:  always,
			rp:   withSandbox(running("a1", "app", "sb1", 0, appOf(always)), running("s1", "side", "sb1", 0, &always.Spec.Containers[1])),
			want: planSummary{InitDone: true},
		},
		{
			name: "Always restarts a container that succeeded",
			pod:  always,
			rp:   withSandbox(exited("a1", "app", "sb1", 0, 0), running("s1", "side", "sb1", 0, &always.Spec.Containers[1])),
			want: planSummary{Restart: []string{"app"}, InitDone: true},
		},
		{
			name: "OnFailure restarts only failures",
			pod:  onFailure, rp: withSandbox(exited("a1", "app", "sb1", 0, 1)),
			want: planSummary{Restart: []string{"app"}, InitDone: true},
		},
		{
			name: "OnFailure leaves a success alone",
			pod:  onFailure, rp: withSandbox(exited("a1", "app", "sb1", 0, 0)),
			want: planSummary{InitDone: true},
		},
		{
			name: "Never restarts nothing",
			pod:  never, rp: withSandbox(exited("a1", "app", "sb1", 0, 2)),
			want: planSummary{InitDone: true},
		},
		{
			name: "first init container runs alone",
			pod:  withInit, rp: withSandbox(),
			want: planSummary{Start: []string{"init1"}},
		},
		{
			name: "running init container holds everything",
			pod:  withInit, rp: withSandbox(running("i1", "init1", "sb1", 0, &withInit.Spec.InitContainers[0])),
			want: planSummary{},
		},
		{
			name: "init containers run in order",
			pod:  withInit, rp: withSandbox(exited("i1", "init1", "sb1", 0, 0)),
			want: planSummary{Start: []string{"init2"}},
		},
		{
			name: "failed init container is retried",
			pod:  withInit, rp: withSandbox(exited("i1", "init1", "sb1", 0, 1)),
			want: planSummary{Restart: []string{"init1"}},
		},
		{
			name: "failed init container with Never fails the pod",
			pod:  initNever, rp: withSandbox(exited("i1", "init1", "sb1", 0, 1)),
			want: planSummary{InitFailed: true},
		},
		{
			name: "init containers of an old sandbox run again",
			pod:  withInit,
			rp: &runtimePod{
				Sandboxes: []*runtimeSandbox{{ID: "sb2", Attempt: 1, Ready: true}, {ID: "sb1"}},
				Containers: []*runtimeContainer{
					exited("a1", "app", "sb1", 0, 137), exited("i2", "init2", "sb1", 0, 0), exited("i1", "init1", "sb1", 0, 0),
				},
			},
			want: planSummary{Start: []string{"init1"}},
		},
		{
			name: "app containers start after init",
			pod:  withInit, rp: withSandbox(exited("i1", "init1", "sb1", 0, 0), exited("i2", "init2", "sb1", 0, 0)),
			want: planSummary{Start: []string{"app"}, InitDone: true},
		},
		{
			name:     "liveness failure kills",
			pod:      never,
			rp:       withSandbox(running("a1", "app", "sb1", 0, appOf(never))),
			verdicts: staticVerdicts{condemned: map[string]string{"a1": "Container app failed liveness probe, will be restarted"}},
			want:     planSummary{Kill: []string{"a1"}},
		},
		{
			name: "changed spec kills",
			pod:  changed, rp: withSandbox(running("a1", "app", "sb1", 0, oldSpec)),
			want: planSummary{Kill: []string{"a1"}},
		},
		{
			name: "containers of another sandbox and unknown names are killed",
			pod:  never,
			rp: &runtimePod{
				Sandboxes: []*runtimeSandbox{{ID: "sb2", Ready: true}},
				Containers: []*runtimeContainer{
					running("a1", "app", "sb1", 0, appOf(never)), running("x1", "gone", "sb2", 0, nil),
				},
			},
			want: planSummary{Kill: []string{"a1", "x1"}},
		},
		{
			name: "never-started leftovers are replaced",
			pod:  never,
			rp: withSandbox(func() *runtimeContainer {
				c := running("a1", "app", "sb1", 0, nil)
				c.State = runtimeapi.ContainerState_CONTAINER_CREATED
				return c
			}()),
			want: planSummary{Remove: []string{"a1"}, Start: []string{"app"}, InitDone: true},
		},
		{
			name:     "sidecar must start before the app containers",
			pod:      sidecarPod,
			rp:       withSandbox(running("p1", "proxy", "sb1", 0, &sidecarPod.Spec.InitContainers[0])),
			verdicts: staticVerdicts{notStarted: map[string]bool{"p1": true}},
			want:     planSummary{},
		},
		{
			name: "started sidecar lets app containers run",
			pod:  sidecarPod, rp: withSandbox(running("p1", "proxy", "sb1", 0, &sidecarPod.Spec.InitContainers[0])),
			want: planSummary{Start: []string{"app"}, InitDone: true},
		},
		{
			name: "sidecar stops once the app containers are done",
			pod:  sidecarPod,
			rp:   withSandbox(running("p1", "proxy", "sb1", 0, &sidecarPod.Spec.InitContainers[0]), exited("a1", "app", "sb1", 0, 0)),
			want: planSummary{Kill: []string{"p1"}, InitDone: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sandbox := tt.rp.latestSandbox().ID
			got := summarise(planPod(tt.pod, tt.rp, sandbox, tt.verdicts))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan = %+v\nwant  %+v", got, tt.want)
			}
		})
	}
}

func TestNextRestartCount(t *testing.T) {
	rp := withSandbox(exited("a1", "app", "sb1", 0, 1), exited("a2", "app", "sb1", 1, 1))
	if got := rp.nextRestartCount("app"); got != 2 {
		t.Errorf("nextRestartCount = %d, want 2", got)
	}
	if got := rp.nextRestartCount("other"); got != 0 {
		t.Errorf("nextRestartCount of a new container = %d, want 0", got)
	}
}
