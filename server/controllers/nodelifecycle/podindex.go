package nodelifecycle

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// nodeNameIndex is the pod index by spec.nodeName (upstream's name for it,
// so controllers sharing the pod informer can share the index).
const nodeNameIndex = "spec.nodeName"

// podsOnNodeFunc lists the cached pods bound to a node.
type podsOnNodeFunc func(node string) []*corev1.Pod

// podsOnNode returns a lookup of pods by node. It indexes the shared pod
// informer when it can; an informer already running (a later leadership
// term) cannot take new indexes, and then a scan of the lister does.
func podsOnNode(informer cache.SharedIndexInformer, lister corelisters.PodLister) podsOnNodeFunc {
	indexer := informer.GetIndexer()
	if _, ok := indexer.GetIndexers()[nodeNameIndex]; !ok {
		err := informer.AddIndexers(cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
			if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
				return []string{pod.Spec.NodeName}, nil
			}
			return nil, nil
		}})
		if err != nil {
			return scanPods(lister)
		}
	}
	return func(node string) []*corev1.Pod {
		objs, err := indexer.ByIndex(nodeNameIndex, node)
		if err != nil {
			return scanPods(lister)(node)
		}
		pods := make([]*corev1.Pod, 0, len(objs))
		for _, o := range objs {
			if pod, ok := o.(*corev1.Pod); ok {
				pods = append(pods, pod)
			}
		}
		return pods
	}
}

func scanPods(lister corelisters.PodLister) podsOnNodeFunc {
	return func(node string) []*corev1.Pod {
		all, _ := lister.List(labels.Everything())
		var pods []*corev1.Pod
		for _, pod := range all {
			if pod.Spec.NodeName == node {
				pods = append(pods, pod)
			}
		}
		return pods
	}
}
