package deployment

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// podOwnerIndex indexes pods by their controller's UID, so a Recreate
// rollout finds the pods of its old ReplicaSets without a full list.
const podOwnerIndex = "deployment.kite.io/controller"

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
		return nil, nil
	}})
}

// podsOf lists the pods controlled by uid.
func podsOf(indexer cache.Indexer, uid types.UID) ([]*corev1.Pod, error) {
	objs, err := indexer.ByIndex(podOwnerIndex, string(uid))
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, nil
}
