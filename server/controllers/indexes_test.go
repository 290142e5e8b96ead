package controllers

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func indexedPod(namespace, name string, controller types.UID, node string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	if controller != "" {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", UID: controller, Controller: ptr.To(true)}}
	}
	return p
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	slices.Sort(out)
	return out
}

func TestIndexes(t *testing.T) {
	informer := cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.Pod{}, 0, cache.Indexers{})
	for range 2 { // a second controller asking for the same indexes
		if err := IndexByController(informer); err != nil {
			t.Fatal(err)
		}
		if err := IndexPodsByNode(informer); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*corev1.Pod{
		indexedPod("ns", "owned", "rs-uid", "n1"),
		indexedPod("other", "owned-elsewhere", "rs-uid", "n1"),
		indexedPod("ns", "someone-elses", "other-uid", "n2"),
		indexedPod("ns", "orphan", "", ""),
		indexedPod("other", "orphan", "", "n1"),
	} {
		if err := informer.GetStore().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	indexer := informer.GetIndexer()
	owned, err := ControlledBy[*corev1.Pod](indexer, "ns", "rs-uid")
	if err != nil || !slices.Equal(names(owned), []string{"ns/owned"}) {
		t.Errorf("controlled: %v (%v)", names(owned), err)
	}
	orphans, err := Orphans[*corev1.Pod](indexer, "ns")
	if err != nil || !slices.Equal(names(orphans), []string{"ns/orphan"}) {
		t.Errorf("orphans: %v (%v)", names(orphans), err)
	}
	claimable, err := Claimable[*corev1.Pod](indexer, "ns", "rs-uid")
	if err != nil || !slices.Equal(names(claimable), []string{"ns/orphan", "ns/owned"}) {
		t.Errorf("claimable: %v (%v)", names(claimable), err)
	}
	if got := names(PodsOnNode(indexer, "n1")); !slices.Equal(got, []string{"ns/owned", "other/orphan", "other/owned-elsewhere"}) {
		t.Errorf("on n1: %v", got)
	}
	// Without the index, a scan finds the same pods.
	bare := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, o := range indexer.List() {
		_ = bare.Add(o)
	}
	if got := names(PodsOnNode(bare, "n2")); !slices.Equal(got, []string{"ns/someone-elses"}) {
		t.Errorf("on n2, by scan: %v", got)
	}
}
