package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"

	"kite/server/controllers"
)

// SchedulerName is the name pods ask for in spec.schedulerName (the
// default the API server fills in).
const SchedulerName = corev1.DefaultSchedulerName

// What a placed pod going away can free: resources, host ports, and the
// domains its anti-affinity or its count in a spread constraint blocked.
const freedByPodRemoval = byResources | byPorts | byInterPod | bySpread

// A pod placed or relabelled can satisfy affinity or change spreading.
const changedByPodPlacement = byInterPod | bySpread

func (s *Scheduler) responsible(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == SchedulerName
}

// pending tells whether the pod waits for this scheduler.
func (s *Scheduler) pending(pod *corev1.Pod) bool {
	return s.responsible(pod) && pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil && !controllers.IsPodTerminal(pod)
}

func (s *Scheduler) podHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			switch {
			case pod.Spec.NodeName != "":
				s.cache.setAssignedPod(pod)
				if !controllers.IsPodTerminal(pod) {
					s.queue.clusterChanged(changedByPodPlacement)
				}
			case s.pending(pod):
				s.queue.add(pod)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := newObj.(*corev1.Pod)
			if !ok1 || !ok2 {
				return
			}
			s.updatePod(old, pod)
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			s.queue.remove(pod)
			// An assumed pod may go before the informer ever saw it bound.
			if s.cache.removePod(pod.UID) {
				s.queue.clusterChanged(freedByPodRemoval)
			}
		},
	}
}

func (s *Scheduler) updatePod(old, pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		if s.pending(pod) {
			s.queue.update(pod)
		} else {
			s.queue.remove(pod)
		}
		return
	}
	if old.Spec.NodeName == "" {
		s.queue.remove(pod) // bound: by us (an assumed pod is now confirmed) or by someone else
	}
	s.cache.setAssignedPod(pod)
	switch {
	case controllers.IsPodTerminal(pod) && !controllers.IsPodTerminal(old):
		s.queue.clusterChanged(freedByPodRemoval)
	case old.Spec.NodeName == "" || !equality.Semantic.DeepEqual(old.Labels, pod.Labels):
		s.queue.clusterChanged(changedByPodPlacement)
	}
}

func (s *Scheduler) nodeHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if node, ok := obj.(*corev1.Node); ok {
				s.cache.setNode(node)
				s.queue.clusterChanged(anyRejector)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Node)
			node, ok2 := newObj.(*corev1.Node)
			if !ok1 || !ok2 {
				return
			}
			s.cache.setNode(node)
			if helps := nodeChangeHelps(old, node); helps != 0 {
				s.queue.clusterChanged(helps)
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if node, ok := obj.(*corev1.Node); ok {
				s.cache.deleteNode(node.Name)
			}
		},
	}
}

// nodeChangeHelps tells which filters might now pass on the updated node;
// heartbeats and image lists change nothing.
func nodeChangeHelps(old, cur *corev1.Node) rejectors {
	var helps rejectors
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) {
		helps |= byResources
	}
	if !equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		helps |= byNodeAffinity | bySpread | byInterPod
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) || nodeReady(old) != nodeReady(cur) {
		helps |= byTaints
	}
	if old.Spec.Unschedulable != cur.Spec.Unschedulable {
		helps |= byNodeUnschedulable
	}
	return helps
}
