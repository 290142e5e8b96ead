package replicaset

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
)

func TestCalculateStatus(t *testing.T) {
	now := base.Add(time.Hour)
	rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{
		Replicas:        ptr.To(int32(4)),
		MinReadySeconds: 60,
		Template:        corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a", "tier": "t"}}},
	}}
	labeled := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "a", "tier": "t"} }
	active := []*corev1.Pod{
		pod("long-ready", labeled, readySince(0)),
		pod("just-ready", labeled, readySince(time.Hour-time.Second)),
		pod("not-ready"),
	}
	s := calculateStatus(rs, active, []*corev1.Pod{pod("going")}, nil, now)
	if s.Replicas != 3 || s.FullyLabeledReplicas != 2 || s.ReadyReplicas != 2 || s.AvailableReplicas != 1 || ptr.Deref(s.TerminatingReplicas, -1) != 1 {
		t.Errorf("status %+v", s)
	}
	if d, ok := controllers.UntilAvailable(active, 60, now); !ok || d != 59*time.Second {
		t.Errorf("next availability in %v (%v), want 59s", d, ok)
	}

	failed := calculateStatus(rs, active, nil, errors.New("quota exceeded"), now)
	if c := replicaFailure(failed); c == nil || c.Reason != "FailedCreate" || c.Message != "quota exceeded" || c.Status != corev1.ConditionTrue {
		t.Errorf("ReplicaFailure %+v", c)
	}
	rs.Status = failed
	if c := replicaFailure(calculateStatus(rs, active, nil, nil, now)); c != nil {
		t.Errorf("ReplicaFailure kept after success: %+v", c)
	}
}
