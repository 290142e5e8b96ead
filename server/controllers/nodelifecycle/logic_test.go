package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestZoneHealth(t *testing.T) {
	r := func(zone string, ready bool) readiness { return readiness{zone: zone, ready: ready} }
	cases := []struct {
		name  string
		nodes []readiness
		want  map[string]zoneState
	}{
		{"all ready", []readiness{r("a", true), r("a", true)}, map[string]zoneState{"a": zoneNormal}},
		{"none ready", []readiness{r("a", false)}, map[string]zoneState{"a": zoneFullDisruption}},
		{"two of three down is not enough nodes", []readiness{r("a", false), r("a", false), r("a", true)}, map[string]zoneState{"a": zoneNormal}},
		{"three of four down", []readiness{r("a", false), r("a", false), r("a", false), r("a", true)}, map[string]zoneState{"a": zonePartialDisruption}},
		{"three of six down is under 55%", []readiness{r("a", false), r("a", false), r("a", false), r("a", true), r("a", true), r("a", true)}, map[string]zoneState{"a": zoneNormal}},
		{"zones apart", []readiness{r("a", false), r("b", true)}, map[string]zoneState{"a": zoneFullDisruption, "b": zoneNormal}},
	}
	for _, tc := range cases {
		got, _ := zoneHealth(tc.nodes, DefaultEvictionLimits.UnhealthyZoneFraction)
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for z, s := range tc.want {
			if got[z] != s {
				t.Errorf("%s: zone %s = %s, want %s", tc.name, z, got[z], s)
			}
		}
	}
}

func TestZonesTotalDisruptionAndPace(t *testing.T) {
	z := newZones(EvictionLimits{QPS: 1000, SecondaryQPS: 1, LargeClusterThreshold: 50, UnhealthyZoneFraction: 0.55})
	ch := z.update([]readiness{{"a", true}, {"b", false}})
	if ch.enteredTotal || ch.leftTotal || len(ch.changed) != 2 {
		t.Fatalf("first update: %+v", ch)
	}
	if ok, _ := z.admitTaint("b"); !ok {
		t.Fatal("a fully disrupted zone beside a healthy one still evicts at the normal rate")
	}
	ch = z.update([]readiness{{"a", false}, {"b", false}})
	if !ch.enteredTotal || !z.totalDisruption() {
		t.Fatalf("all zones down: %+v", ch)
	}
	if ok, retry := z.admitTaint("b"); ok || retry != 0 {
		t.Fatal("tainting goes on in total disruption")
	}
	ch = z.update([]readiness{{"a", true}, {"b", false}})
	if !ch.leftTotal || z.totalDisruption() {
		t.Fatalf("a zone recovered: %+v", ch)
	}

	// A small partly disrupted zone halts; a large one slows down.
	small := []readiness{{"c", false}, {"c", false}, {"c", false}, {"c", true}}
	z.update(small)
	if ok, retry := z.admitTaint("c"); ok || retry != 0 {
		t.Fatalf("small disrupted zone: ok=%v retry=%v", ok, retry)
	}
	z.update([]readiness{{"c", true}}) // back to normal: rates follow state changes only
	var large []readiness
	for i := 0; i < 60; i++ {
		large = append(large, readiness{"c", i >= 50})
	}
	z.update(large)
	if ok, _ := z.admitTaint("c"); !ok {
		t.Fatal("large disrupted zone: first taint refused")
	}
	if ok, retry := z.admitTaint("c"); ok || retry != time.Second {
		t.Fatalf("large disrupted zone: second taint ok=%v retry=%v, want refused for 1s", ok, retry)
	}
}

func TestReconcileNoSchedule(t *testing.T) {
	now := metav1.Now()
	ns := func(key string) corev1.Taint { return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule} }
	user := corev1.Taint{Key: "example.com/x", Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name        string
		have, want  []corev1.Taint
		wantKeys    []string
		wantChanged bool
	}{
		{"nothing to do", []corev1.Taint{user}, nil, []string{"example.com/x"}, false},
		{"add", []corev1.Taint{user}, []corev1.Taint{ns(corev1.TaintNodeUnschedulable)}, []string{"example.com/x", corev1.TaintNodeUnschedulable}, true},
		{"remove", []corev1.Taint{ns(corev1.TaintNodeMemoryPressure), user}, nil, []string{"example.com/x"}, true},
		{"keep NoExecute", []corev1.Taint{unreachableNoExecute}, nil, []string{corev1.TaintNodeUnreachable}, false},
		{"already there", []corev1.Taint{ns(corev1.TaintNodeDiskPressure)}, []corev1.Taint{ns(corev1.TaintNodeDiskPressure)}, []string{corev1.TaintNodeDiskPressure}, false},
	}
	for _, tc := range cases {
		got, changed := reconcileNoSchedule(tc.have, tc.want, now)
		if changed != tc.wantChanged || len(got) != len(tc.wantKeys) {
			t.Errorf("%s: got %v (changed %v)", tc.name, got, changed)
			continue
		}
		for i, k := range tc.wantKeys {
			if got[i].Key != k {
				t.Errorf("%s: taint %d = %s, want %s", tc.name, i, got[i].Key, k)
			}
		}
	}
}

func TestNoScheduleTaints(t *testing.T) {
	node := &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionUnknown},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionTrue},
	}}}
	got := noScheduleTaints(node)
	want := []string{corev1.TaintNodeUnreachable, corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Key != want[i] || got[i].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("taint %d = %v, want %s:NoSchedule", i, got[i], want[i])
		}
	}
}

func TestEvictionDelay(t *testing.T) {
	tol := func(s *int64) corev1.Toleration { return corev1.Toleration{TolerationSeconds: s} }
	cases := []struct {
		name string
		used []corev1.Toleration
		want time.Duration
	}{
		{"unlimited", []corev1.Toleration{tol(nil)}, -1},
		{"smallest wins", []corev1.Toleration{tol(ptr.To[int64](30)), tol(nil), tol(ptr.To[int64](10))}, 10 * time.Second},
		{"zero is now", []corev1.Toleration{tol(ptr.To[int64](0))}, 0},
		{"negative is now", []corev1.Toleration{tol(ptr.To[int64](-5))}, 0},
		{"none", nil, 0},
	}
	for _, tc := range cases {
		if got := evictionDelay(tc.used); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTolerationsFor(t *testing.T) {
	taints := []corev1.Taint{unreachableNoExecute, {Key: "k", Value: "v", Effect: corev1.TaintEffectNoExecute}}
	all := []corev1.Toleration{
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)},
		{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v"},
	}
	ok, used := tolerationsFor(taints, all)
	if !ok || len(used) != 2 {
		t.Fatalf("all tolerated: ok=%v used=%v", ok, used)
	}
	if ok, _ := tolerationsFor(taints, all[:1]); ok {
		t.Fatal("second taint is not tolerated")
	}
	if ok, _ := tolerationsFor(taints, []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpEqual, Value: "other"}, all[0]}); ok {
		t.Fatal("wrong value tolerated")
	}
}

func TestMarkSilent(t *testing.T) {
	created := metav1.NewTime(time.Unix(100, 0))
	now := metav1.NewTime(time.Unix(200, 0))
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse},
	}}}
	if !markSilent(node, now) {
		t.Fatal("Ready did not change")
	}
	ready := readyCondition(node)
	if ready.Status != corev1.ConditionUnknown || ready.Reason != "NodeStatusUnknown" || ready.Message != "Kubelet stopped posting node status." || !ready.LastTransitionTime.Equal(&now) {
		t.Errorf("Ready = %+v", ready)
	}
	mem := nodeCondition(node, corev1.NodeMemoryPressure)
	if mem == nil || mem.Reason != "NodeStatusNeverUpdated" || mem.Message != "Kubelet never posted node status." || !mem.LastHeartbeatTime.Equal(&created) {
		t.Errorf("MemoryPressure = %+v", mem)
	}
	if nodeCondition(node, corev1.NodeNetworkUnavailable).Status != corev1.ConditionFalse {
		t.Error("NetworkUnavailable was touched")
	}
	if markSilent(node, metav1.NewTime(time.Unix(300, 0))) {
		t.Error("a second marking changed Ready again")
	}
}

func TestHealthObserve(t *testing.T) {
	h := newHealthMap()
	t0 := time.Unix(1000, 0)
	hb := metav1.NewTime(t0)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", UID: "u1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: hb}}}}
	obs := h.observe(node, nil, t0, 10*time.Second, time.Minute)
	if !obs.first || obs.expired || !obs.deadline.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("first: %+v", obs)
	}
	// Nothing new: the deadline stays put and passes.
	obs = h.observe(node, nil, t0.Add(11*time.Second), 10*time.Second, time.Minute)
	if obs.first || !obs.expired {
		t.Fatalf("silent: %+v", obs)
	}
	// A renewed Lease is a heartbeat.
	renew := metav1.NewMicroTime(t0.Add(5 * time.Second))
	lease := leaseWith(renew)
	obs = h.observe(node, lease, t0.Add(12*time.Second), 10*time.Second, time.Minute)
	if obs.expired || !obs.deadline.Equal(t0.Add(22*time.Second)) {
		t.Fatalf("after lease renewal: %+v", obs)
	}
	// The same Lease again is not.
	obs = h.observe(node, lease, t0.Add(23*time.Second), 10*time.Second, time.Minute)
	if !obs.expired {
		t.Fatalf("same lease counted again: %+v", obs)
	}
	// A recreated node with the same name starts over.
	node.UID = "u2"
	if obs = h.observe(node, nil, t0.Add(30*time.Second), 10*time.Second, time.Minute); !obs.first || obs.expired {
		t.Fatalf("recreated node: %+v", obs)
	}
}

func leaseWith(renew metav1.MicroTime) *coordinationv1.Lease {
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &renew}}
}
