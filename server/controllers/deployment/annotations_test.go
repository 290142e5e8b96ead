package deployment

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := rolling(3, intstr.FromString("25%"), intstr.FromString("25%"))
	d.Annotations = map[string]string{
		"kubernetes.io/change-cause":       "kubectl set image",
		revisionAnnotation:                 "7",
		corev1.LastAppliedConfigAnnotation: "{}",
	}
	for _, tc := range []struct {
		name    string
		before  map[string]string
		exists  bool
		want    map[string]string
		changed bool
	}{
		{"new", nil, false, map[string]string{revisionAnnotation: "4", desiredReplicasAnnotation: "3", maxReplicasAnnotation: "4",
			"kubernetes.io/change-cause": "kubectl set image"}, true},
		{"rolled back to", map[string]string{revisionAnnotation: "1", "kubernetes.io/change-cause": "kubectl set image"}, true,
			map[string]string{revisionAnnotation: "4", revisionHistoryAnnotation: "1"}, true},
		{"rolled back again", map[string]string{revisionAnnotation: "2", revisionHistoryAnnotation: "1", "kubernetes.io/change-cause": "kubectl set image"}, true,
			map[string]string{revisionAnnotation: "4", revisionHistoryAnnotation: "1,2"}, true},
		{"up to date", map[string]string{revisionAnnotation: "4", "kubernetes.io/change-cause": "kubectl set image"}, true,
			map[string]string{revisionAnnotation: "4"}, false},
		{"newer than asked", map[string]string{revisionAnnotation: "9", "kubernetes.io/change-cause": "kubectl set image"}, true,
			map[string]string{revisionAnnotation: "9"}, false},
	} {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Annotations: tc.before}}
		changed := setNewReplicaSetAnnotations(d, rs, 4, tc.exists)
		if changed != tc.changed {
			t.Errorf("%s: changed %v", tc.name, changed)
		}
		for k, v := range tc.want {
			if rs.Annotations[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, rs.Annotations[k], v)
			}
		}
		if _, ok := rs.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
			t.Errorf("%s: last-applied-configuration copied", tc.name)
		}
	}
}

func TestAppendRevisionHistoryIsBounded(t *testing.T) {
	history := strings.TrimSuffix(strings.Repeat("1000,", 400), ",") // 1999 characters
	got := appendRevisionHistory(history, "2000")
	if len(got) > revisionHistoryMaxChars || !strings.HasSuffix(got, ",2000") {
		t.Errorf("history of %d characters ending %q", len(got), got[len(got)-10:])
	}
}

func TestLastRevision(t *testing.T) {
	rss := []*appsv1.ReplicaSet{
		{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{revisionAnnotation: "3"}}},
		{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{revisionAnnotation: "5"}}},
		{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{revisionAnnotation: "x"}}},
		{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{revisionAnnotation: "4"}}},
	}
	if got := lastRevision(rss); got != 4 {
		t.Errorf("lastRevision = %d, want 4", got)
	}
	if got := maxRevision(rss); got != 5 {
		t.Errorf("maxRevision = %d, want 5", got)
	}
}
