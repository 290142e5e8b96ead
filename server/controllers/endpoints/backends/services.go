package backends

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kite/server/controllers"
)

// PodHandler turns pod events into the keys ("namespace/name") of the
// Services whose endpoints they may change: those selecting the pod
// before or after the change. Updates that cannot change any endpoint
// (most status updates) are dropped.
func PodHandler(services corelisters.ServiceLister, enqueue func(serviceKey string)) cache.ResourceEventHandler {
	touch := func(pods ...*corev1.Pod) {
		keys := map[string]bool{}
		for _, pod := range pods {
			for _, key := range selecting(services, pod) {
				keys[key] = true
			}
		}
		for _, key := range slices.Sorted(maps.Keys(keys)) {
			enqueue(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				touch(pod)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			cur, ok2 := newObj.(*corev1.Pod)
			if ok1 && ok2 && EndpointsMayChange(old, cur) {
				touch(old, cur)
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				touch(pod)
			}
		},
	}
}

// selecting lists the keys of the Services in the pod's namespace whose
// selector matches the pod. A Service without a selector selects nothing.
func selecting(services corelisters.ServiceLister, pod *corev1.Pod) []string {
	list, err := services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil // a cache lister does not fail
	}
	var keys []string
	podLabels := labels.Set(pod.Labels)
	for _, svc := range list {
		if svc.Spec.Selector != nil && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(podLabels) {
			keys = append(keys, svc.Namespace+"/"+svc.Name)
		}
	}
	return keys
}

// EndpointsMayChange tells whether an update of a pod can change what the
// endpoints of any Service say about it, or which Services select it.
// A pod's name, UID and node never change once it has an address, and its
// container ports are immutable.
func EndpointsMayChange(old, cur *corev1.Pod) bool {
	if old.ResourceVersion == cur.ResourceVersion {
		return false // a resync
	}
	return !maps.Equal(old.Labels, cur.Labels) ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		controllers.IsPodReady(old) != controllers.IsPodReady(cur) ||
		controllers.IsPodTerminal(old) != controllers.IsPodTerminal(cur) ||
		old.Spec.NodeName != cur.Spec.NodeName ||
		!slices.Equal(podIPs(old), podIPs(cur))
}
