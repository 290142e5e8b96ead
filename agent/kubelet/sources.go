package kubelet

import (
	"context"
	"fmt"
	"net"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Annotations of static and mirror pods, as upstream.
const (
	annotationConfigSource = "kubernetes.io/config.source"
	annotationConfigHash   = "kubernetes.io/config.hash"
	annotationConfigMirror = "kubernetes.io/config.mirror"
)

// podSources watches the API for the pods bound to this node and for the
// Node itself.
type podSources struct {
	k       *Kubelet
	factory informers.SharedInformerFactory
	nodes   informers.SharedInformerFactory
	pods    cache.SharedIndexInformer
	node    cache.SharedIndexInformer
}

func newPodSources(k *Kubelet) *podSources {
	podFactory := informers.NewSharedInformerFactoryWithOptions(k.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(k.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", k.cfg.NodeName).String()
		}))
	s := &podSources{
		k:       k,
		factory: podFactory,
		nodes:   nodeFactory,
		pods:    podFactory.Core().V1().Pods().Informer(),
		node:    nodeFactory.Core().V1().Nodes().Informer(),
	}
	// The kubelet never looks at managed fields; dropping them keeps the
	// cache small.
	slim := func(obj interface{}) (interface{}, error) {
		if m, ok := obj.(metav1.ObjectMetaAccessor); ok {
			m.GetObjectMeta().SetManagedFields(nil)
		}
		return obj, nil
	}
	_ = s.pods.SetTransform(slim)
	_ = s.node.SetTransform(slim)
	_, _ = s.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.onPod(obj) },
		UpdateFunc: func(_, obj interface{}) { s.onPod(obj) },
		DeleteFunc: s.onPodDelete,
	})
	return s
}

func (s *podSources) start(ctx context.Context) error {
	s.factory.Start(ctx.Done())
	s.nodes.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.pods.HasSynced) {
		return fmt.Errorf("kubelet: pods of node %s never synced: %w", s.k.cfg.NodeName, ctx.Err())
	}
	// The Node may not be registered yet; the kubelet runs without it.
	return nil
}

func (s *podSources) onPod(obj interface{}) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	if isMirrorPod(pod) {
		s.k.static.mirrorChanged(pod)
		return
	}
	s.k.podUpdated(pod)
}

func (s *podSources) onPodDelete(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	if isMirrorPod(pod) {
		s.k.static.mirrorChanged(pod)
		return
	}
	s.k.podRemoved(pod.UID)
}

// apiPod is the cached API object of namespace/name, or nil.
func (s *podSources) apiPod(namespace, name string) *v1.Pod {
	obj, exists, err := s.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !exists {
		return nil
	}
	return obj.(*v1.Pod)
}

// mirrorOf is the mirror pod of a static pod, or nil.
func (s *podSources) mirrorOf(pod *v1.Pod) *v1.Pod {
	if !isStaticPod(pod) {
		return nil
	}
	if m := s.apiPod(pod.Namespace, pod.Name); m != nil && isMirrorPod(m) {
		return m
	}
	return nil
}

// nodeObject is the cached Node, or nil before it is registered.
func (s *podSources) nodeObject() *v1.Node {
	obj, exists, err := s.node.GetStore().GetByKey(s.k.cfg.NodeName)
	if err != nil || !exists {
		return nil
	}
	return obj.(*v1.Node)
}

// nodeAllocatable is what resourceFieldRef limits default to.
func (s *podSources) nodeAllocatable() v1.ResourceList {
	if n := s.nodeObject(); n != nil {
		return n.Status.Allocatable
	}
	return nil
}

// hostIPs are the pods' hostIP(s): the configured node IPs, else the Node's
// internal addresses.
func (s *podSources) hostIPs() []string {
	if len(s.k.cfg.NodeIPs) > 0 {
		return s.k.cfg.NodeIPs
	}
	n := s.nodeObject()
	if n == nil {
		return nil
	}
	var ips []string
	for _, a := range n.Status.Addresses {
		if a.Type == v1.NodeInternalIP && net.ParseIP(a.Address) != nil {
			ips = append(ips, a.Address)
		}
	}
	return ips
}

func isMirrorPod(pod *v1.Pod) bool {
	_, ok := pod.Annotations[annotationConfigMirror]
	return ok
}

func isStaticPod(pod *v1.Pod) bool {
	return pod.Annotations[annotationConfigSource] == "file"
}
