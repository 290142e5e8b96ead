package deployment

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func rolling(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas),
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
	}}
}

func TestFenceposts(t *testing.T) {
	pct := intstr.FromString
	n := intstr.FromInt32
	for _, tc := range []struct {
		name                   string
		d                      *appsv1.Deployment
		wantSurge, wantUnavail int32
	}{
		{"defaults on 3: surge rounds up, unavailable down", rolling(3, pct("25%"), pct("25%")), 1, 0},
		{"defaults on 10", rolling(10, pct("25%"), pct("25%")), 3, 2},
		{"both zero after rounding: one may go", rolling(2, pct("0%"), pct("1%")), 0, 1},
		{"absolute", rolling(4, n(1), n(1)), 1, 1},
		{"unavailable capped at replicas", rolling(2, n(0), n(5)), 0, 2},
		{"no replicas: nothing unavailable", rolling(0, n(1), n(1)), 1, 0},
		{"recreate has neither", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(3)),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}, 0, 0},
	} {
		if s, u := maxSurge(tc.d), maxUnavailable(tc.d); s != tc.wantSurge || u != tc.wantUnavail {
			t.Errorf("%s: surge %d unavailable %d, want %d %d", tc.name, s, u, tc.wantSurge, tc.wantUnavail)
		}
	}
}

func rsOf(name string, replicas int32, annotations map[string]string, created int64) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations, CreationTimestamp: metav1.Unix(created, 0)},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)},
	}
}

func TestNewRSReplicas(t *testing.T) {
	d := rolling(10, intstr.FromInt32(2), intstr.FromInt32(1))
	for _, tc := range []struct {
		name      string
		old, new_ int32
		want      int32
	}{
		{"room to surge", 10, 0, 2},
		{"at the ceiling", 10, 2, 2},
		{"never past desired", 1, 9, 10},
		{"partway", 6, 5, 6},
	} {
		newRS := rsOf("new", tc.new_, nil, 2)
		got, err := newRSReplicas(d, []*appsv1.ReplicaSet{rsOf("old", tc.old, nil, 1), newRS}, newRS)
		if err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}

func TestProportionalSizes(t *testing.T) {
	ann := func(max string) map[string]string { return map[string]string{maxReplicasAnnotation: max} }
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		rss  []*appsv1.ReplicaSet
		want map[string]int32
	}{
		{
			name: "scale up mid-rollout",
			d:    rolling(8, intstr.FromInt32(1), intstr.FromInt32(1)),
			rss:  []*appsv1.ReplicaSet{rsOf("old", 3, ann("5"), 1), rsOf("new", 2, ann("5"), 2)},
			want: map[string]int32{"old": 5, "new": 4},
		},
		{
			name: "scale down mid-rollout: leftovers from the largest",
			d:    rolling(5, intstr.FromInt32(3), intstr.FromInt32(2)),
			rss:  []*appsv1.ReplicaSet{rsOf("old", 8, ann("13"), 1), rsOf("new", 5, ann("13"), 2)},
			want: map[string]int32{"old": 5, "new": 3},
		},
		{
			name: "to zero",
			d:    rolling(0, intstr.FromInt32(1), intstr.FromInt32(1)),
			rss:  []*appsv1.ReplicaSet{rsOf("old", 2, ann("5"), 1), rsOf("new", 3, ann("5"), 2)},
			want: map[string]int32{"old": 0, "new": 0},
		},
	} {
		got := proportionalSizes(tc.d, tc.rss)
		for name, want := range tc.want {
			if got[name] != want {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}
