package controllers

import (
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// dependentsLog records what a Dependents handler did, in order.
type dependentsLog struct{ calls []string }

func (l *dependentsLog) handler(deletingIsGone bool) *Dependents[*appsv1.ReplicaSet, *corev1.Pod] {
	owners := map[string]*appsv1.ReplicaSet{
		"a": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "a"}},
		"b": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", UID: "b"}},
	}
	return &Dependents[*appsv1.ReplicaSet, *corev1.Pod]{
		OwnerKind: "ReplicaSet",
		GetOwner: func(namespace, name string) (*appsv1.ReplicaSet, error) {
			if rs, ok := owners[name]; ok && namespace == "ns" {
				return rs, nil
			}
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "replicasets"}, name)
		},
		Adopters: func(*corev1.Pod) []*appsv1.ReplicaSet { return []*appsv1.ReplicaSet{owners["a"], owners["b"]} },
		Enqueue:  func(rs *appsv1.ReplicaSet) { l.calls = append(l.calls, "enqueue "+rs.Name) },
		Created:  func(rs *appsv1.ReplicaSet, p *corev1.Pod) { l.calls = append(l.calls, "created "+rs.Name+"/"+p.Name) },
		Gone:     func(rs *appsv1.ReplicaSet, p *corev1.Pod) { l.calls = append(l.calls, "gone "+rs.Name+"/"+p.Name) },
		Changed: func(rs *appsv1.ReplicaSet, _, cur *corev1.Pod) {
			l.calls = append(l.calls, "changed "+rs.Name+"/"+cur.Name)
		},
		DeletingIsGone: deletingIsGone,
	}
}

func depPod(rv string, owner string, uid string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: rv, Labels: map[string]string{"app": "web"}}}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: owner, UID: types.UID(uid), Controller: ptr.To(true)}}
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestDependents(t *testing.T) {
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }
	relabelled := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} }
	for _, tc := range []struct {
		name           string
		deletingIsGone bool
		event          func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod])
		want           []string
	}{
		{"controlled pod added", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) { h.Added(depPod("1", "a", "a")) },
			[]string{"created a/p", "enqueue a"}},
		{"pod of a namesake added", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) { h.Added(depPod("1", "a", "old")) },
			nil},
		{"orphan added", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) { h.Added(depPod("1", "", "")) },
			[]string{"enqueue a", "enqueue b"}},
		{"pod added already being deleted", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) { h.Added(depPod("1", "a", "a", deleting)) },
			[]string{"gone a/p", "enqueue a"}},
		{"resync", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "a", "a"), depPod("1", "a", "a"))
		},
			nil},
		{"controlled pod changed", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "a", "a"), depPod("2", "a", "a"))
		},
			[]string{"enqueue a", "changed a/p"}},
		{"controller changed", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "a", "a"), depPod("2", "b", "b"))
		},
			[]string{"enqueue a", "enqueue b", "changed b/p"}},
		{"released", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "a", "a"), depPod("2", "", ""))
		},
			[]string{"enqueue a", "enqueue a", "enqueue b"}},
		{"orphan changed, same labels", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "", ""), depPod("2", "", ""))
		},
			nil},
		{"orphan relabelled", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "", ""), depPod("2", "", "", relabelled))
		}, []string{"enqueue a", "enqueue b"}},
		{"deletion begins, counted at the end", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "a", "a"), depPod("2", "a", "a", deleting))
		}, []string{"enqueue a", "changed a/p"}},
		{"deletion begins, counted at once", true, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Updated(depPod("1", "a", "a"), depPod("2", "a", "a", deleting))
		}, []string{"gone a/p", "enqueue a"}},
		{"deleted, from a tombstone", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			h.Deleted(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: depPod("1", "b", "b")})
		}, []string{"gone b/p", "enqueue b"}},
		{"orphan deleted", false, func(h *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) { h.Deleted(depPod("1", "", "")) },
			nil},
	} {
		var l dependentsLog
		tc.event(l.handler(tc.deletingIsGone))
		if !slices.Equal(l.calls, tc.want) {
			t.Errorf("%s: %s, want %s", tc.name, fmt.Sprint(l.calls), fmt.Sprint(tc.want))
		}
	}
}
