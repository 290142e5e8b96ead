package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// Indexes on the shared informers. Each is added once per informer and
// serves every controller (and every later leadership term: informers
// are the process's), so a sync reads the few objects it may care about
// instead of a whole namespace.
const (
	// ControllerIndex indexes objects by the UID of their controller, and
	// objects without one as orphans of their namespace.
	ControllerIndex = "kite.io/controller"
	// NodeNameIndex indexes pods by spec.nodeName (upstream's name for
	// the index).
	NodeNameIndex = "spec.nodeName"
)

func orphanIndexKey(namespace string) string { return "orphan/" + namespace }

// IndexByController adds ControllerIndex to informer.
func IndexByController(informer cache.SharedIndexInformer) error {
	return addIndex(informer, ControllerIndex, func(obj any) ([]string, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil
		}
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
			return []string{string(ref.UID)}, nil
		}
		return []string{orphanIndexKey(m.GetNamespace())}, nil
	})
}

// IndexPodsByNode adds NodeNameIndex to a pod informer.
func IndexPodsByNode(informer cache.SharedIndexInformer) error {
	return addIndex(informer, NodeNameIndex, func(obj any) ([]string, error) {
		if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
			return []string{pod.Spec.NodeName}, nil
		}
		return nil, nil
	})
}

// addIndex adds the index unless the informer has one of that name.
func addIndex(informer cache.SharedIndexInformer, name string, index cache.IndexFunc) error {
	if _, ok := informer.GetIndexer().GetIndexers()[name]; ok {
		return nil
	}
	err := informer.AddIndexers(cache.Indexers{name: index})
	if _, ok := informer.GetIndexer().GetIndexers()[name]; ok {
		return nil // added, by us or by a controller built alongside
	}
	return err
}

// ControlledBy lists the cached objects of namespace whose controller has
// the given UID. They are the cache's: copy before changing.
func ControlledBy[T metav1.Object](indexer cache.Indexer, namespace string, uid types.UID) ([]T, error) {
	return byIndex[T](indexer, ControllerIndex, string(uid), namespace)
}

// Orphans lists the cached objects of namespace that have no controller.
func Orphans[T metav1.Object](indexer cache.Indexer, namespace string) ([]T, error) {
	return byIndex[T](indexer, ControllerIndex, orphanIndexKey(namespace), namespace)
}

// Claimable lists the cached objects an owner with the given UID may
// claim: those it controls and the orphans of its namespace.
func Claimable[T metav1.Object](indexer cache.Indexer, namespace string, uid types.UID) ([]T, error) {
	owned, err := ControlledBy[T](indexer, namespace, uid)
	if err != nil {
		return nil, err
	}
	orphans, err := Orphans[T](indexer, namespace)
	if err != nil {
		return nil, err
	}
	return append(owned, orphans...), nil
}

func byIndex[T metav1.Object](indexer cache.Indexer, index, value, namespace string) ([]T, error) {
	objs, err := indexer.ByIndex(index, value)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok && t.GetNamespace() == namespace {
			out = append(out, t)
		}
	}
	return out, nil
}

// PodsOnNode lists the cached pods bound to node: by NodeNameIndex, or by
// a scan of the whole cache when the informer could not be indexed.
func PodsOnNode(indexer cache.Indexer, node string) []*corev1.Pod {
	objs, err := indexer.ByIndex(NodeNameIndex, node)
	if err != nil {
		objs = indexer.List()
	}
	var pods []*corev1.Pod
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok && pod.Spec.NodeName == node {
			pods = append(pods, pod)
		}
	}
	return pods
}
