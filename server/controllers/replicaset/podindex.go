package replicaset

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// podOwnerIndex indexes pods by their controller's UID, and orphans by
// namespace, so a sync looks only at the pods it may own or adopt.
const podOwnerIndex = "replicaset.kite.io/controller"

func orphanIndexKey(namespace string) string { return "orphan/" + namespace }

func addPodOwnerIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[podOwnerIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{podOwnerIndex: func(obj any) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
			return []string{string(ref.UID)}, nil
		}
		return []string{orphanIndexKey(pod.Namespace)}, nil
	}})
}

// ownedOrOrphanPods lists the pods controlled by uid and the orphans of
// namespace.
func ownedOrOrphanPods(indexer cache.Indexer, namespace string, uid types.UID) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, key := range []string{string(uid), orphanIndexKey(namespace)} {
		objs, err := indexer.ByIndex(podOwnerIndex, key)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok && p.Namespace == namespace {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
