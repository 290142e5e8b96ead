package statefulset

import (
	"errors"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestParentAndOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name, parent string
		ordinal      int
	}{
		{"web-0", "web", 0},
		{"my-web-12", "my-web", 12},
		{"web", "", -1},
		{"web-x", "", -1},
		{"web-99999999999", "web", -1},
	} {
		parent, ord := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}})
		if parent != tc.parent || ord != tc.ordinal {
			t.Errorf("%s: got %q %d, want %q %d", tc.name, parent, ord, tc.parent, tc.ordinal)
		}
	}
}

func TestScaledMaxUnavailable(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	for _, tc := range []struct {
		v        *intstr.IntOrString
		replicas int
		want     int
	}{
		{nil, 5, 1},
		{num(3), 5, 3},
		{pct("50%"), 5, 2},
		{pct("10%"), 5, 1}, // rounds down to 0, raised to 1
	} {
		got, err := scaledMaxUnavailable(tc.v, tc.replicas)
		if err != nil || got != tc.want {
			t.Errorf("%v of %d: got %d (%v), want %d", tc.v, tc.replicas, got, err, tc.want)
		}
	}
}

func TestAtCurrentRevision(t *testing.T) {
	partition := func(p int32) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
			Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &p},
		}}}
	}
	onDelete := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
	for _, tc := range []struct {
		name    string
		set     *appsv1.StatefulSet
		ordinal int
		want    bool
	}{
		{"below partition", partition(2), 1, true},
		{"at partition", partition(2), 2, false},
		{"no partition", partition(0), 0, false},
		{"on delete", onDelete, 0, false},
	} {
		if got := atCurrentRevision(tc.set, tc.ordinal); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDesiredClaimOwners(t *testing.T) {
	const retain, del = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	one := int32(1)
	set := func(whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "set-uid"},
			Spec: appsv1.StatefulSetSpec{Replicas: &one, PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: whenDeleted, WhenScaled: whenScaled,
			}},
		}
	}
	inRange := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", UID: "pod0"}}
	scaledDown := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", UID: "pod1"}}
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "Thing", Name: "x", UID: "other", Controller: ptr(true)}
	for _, tc := range []struct {
		name         string
		set          *appsv1.StatefulSet
		pod          *corev1.Pod
		existing     []metav1.OwnerReference
		wantUIDs     []string
		wantConflict bool
		wantOK       bool
	}{
		{"retain keeps no owner", set(retain, retain), inRange, nil, nil, false, true},
		{"delete with set", set(del, retain), inRange, nil, []string{"set-uid"}, false, true},
		{"delete on scale, in range", set(retain, del), inRange, nil, nil, false, true},
		{"delete on scale, scaled down", set(retain, del), scaledDown, nil, []string{"pod1"}, false, true},
		{"delete both, scaled down", set(del, del), scaledDown, nil, []string{"pod1"}, false, true},
		{"delete both, in range", set(del, del), inRange, nil, []string{"set-uid"}, false, true},
		{"other controller", set(del, del), inRange, []metav1.OwnerReference{other}, []string{"other"}, true, true},
		{"stale set ref", set(del, del), inRange, []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "old"}}, nil, false, false},
	} {
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{OwnerReferences: tc.existing}}
		refs, conflict, ok := desiredClaimOwners(claim, tc.set, tc.pod)
		var uids []string
		for _, r := range refs {
			uids = append(uids, string(r.UID))
		}
		if ok != tc.wantOK || conflict != tc.wantConflict || (ok && !equalStrings(uids, tc.wantUIDs)) {
			t.Errorf("%s: got %v conflict=%v ok=%v, want %v conflict=%v ok=%v", tc.name, uids, conflict, ok, tc.wantUIDs, tc.wantConflict, tc.wantOK)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }

func TestForEach(t *testing.T) {
	var calls atomic.Int32
	stop, err := forEach(5, true, func(i int) (bool, error) { calls.Add(1); return i == 1, nil })
	if !stop || err != nil || calls.Load() != 2 {
		t.Errorf("ordered: stop=%v err=%v calls=%d, want a stop after 2 calls", stop, err, calls.Load())
	}
	calls.Store(0)
	stop, err = forEach(7, false, func(int) (bool, error) { calls.Add(1); return true, nil })
	if stop || err != nil || calls.Load() != 7 {
		t.Errorf("parallel: stop=%v err=%v calls=%d, want all 7 calls", stop, err, calls.Load())
	}
	calls.Store(0)
	boom := errors.New("boom")
	stop, err = forEach(7, false, func(int) (bool, error) { calls.Add(1); return false, boom })
	if !stop || !errors.Is(err, boom) || calls.Load() != 1 {
		t.Errorf("parallel failure: stop=%v err=%v calls=%d, want a stop after the first batch", stop, err, calls.Load())
	}
}

func TestRevisionRoundTrip(t *testing.T) {
	one := int32(1)
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u", Annotations: map[string]string{"kubernetes.io/change-cause": "v2"}},
		Spec: appsv1.StatefulSetSpec{Replicas: &one, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v2"}}},
		}},
	}
	rev, err := newRevision(set, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Name != "web-"+rev.Labels[revisionHashLabel] || rev.Revision != 3 || rev.Annotations["kubernetes.io/change-cause"] != "v2" {
		t.Errorf("revision %s %d %v", rev.Name, rev.Revision, rev.Annotations)
	}
	changed := set.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "v3"
	restored, err := applyRevision(changed, rev)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Spec.Template.Spec.Containers[0].Image != "v2" {
		t.Errorf("restored image %q, want v2", restored.Spec.Template.Spec.Containers[0].Image)
	}
	other, _ := newRevision(changed, 4, 0)
	if sameTemplate(rev, other) || !sameTemplate(rev, rev) {
		t.Error("sameTemplate does not tell templates apart")
	}
	if collided, _ := newRevision(set, 3, 1); collided.Name == rev.Name {
		t.Error("a collision count does not change the name")
	}
}
