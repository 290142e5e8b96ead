package controllers

import (
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// FromTombstone returns obj as a T, unwrapping the tombstone an informer
// hands a delete handler when it missed the deletion itself (the watch
// broke and a relist no longer found the object).
func FromTombstone[T any](obj any) (T, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	t, ok := obj.(T)
	return t, ok
}

// Enqueue adds obj's namespace/name key (a tombstone's too) to queue.
func Enqueue(queue workqueue.TypedInterface[string], obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		queue.Add(key)
	}
}

// EnqueueHandler is the informer event handler that queues the key of
// every object added, changed or deleted.
func EnqueueHandler(queue workqueue.TypedInterface[string]) cache.ResourceEventHandlerFuncs {
	enqueue := func(obj any) { Enqueue(queue, obj) }
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}
}
