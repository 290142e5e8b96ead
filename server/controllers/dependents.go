package controllers

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// ResolveControllerRef returns the owner that ref names, if ref is of the
// owner's kind and get (the owner lister's namespace/name lookup) finds it
// with ref's UID: a namesake created since is not the owner.
func ResolveControllerRef[O metav1.Object](namespace string, ref *metav1.OwnerReference, kind string, get func(namespace, name string) (O, error)) (O, bool) {
	var none O
	if ref == nil || ref.Kind != kind {
		return none, false
	}
	owner, err := get(namespace, ref.Name)
	if err != nil || owner.GetUID() != ref.UID {
		return none, false
	}
	return owner, true
}

// Dependents turns the informer events of the objects an owner kind
// controls (its dependents: a ReplicaSet's pods, a Deployment's
// ReplicaSets) into syncs of their owners, as upstream's workload
// controllers do: an object's controller is woken, and so is its former
// controller when the reference changes; an orphan wakes the owners
// whose selector may adopt it.
type Dependents[O, D metav1.Object] struct {
	// OwnerKind is the Kind of the owners' controller references.
	OwnerKind string
	// GetOwner looks an owner up by namespace and name (its lister).
	GetOwner func(namespace, name string) (O, error)
	// Adopters lists the owners whose selector matches an orphan.
	Adopters func(orphan D) []O
	// Enqueue queues an owner for a sync.
	Enqueue func(owner O)

	// Created, if set, hears of each new dependent of owner (before owner
	// is queued): an awaited creation was observed.
	Created func(owner O, obj D)
	// Gone, if set, hears of each dependent of owner that was deleted
	// (before owner is queued): an awaited deletion was observed.
	Gone func(owner O, obj D)
	// Changed, if set, hears of each update of a dependent of owner (after
	// owner is queued), to look again later, say.
	Changed func(owner O, old, cur D)
	// DeletingIsGone makes a dependent count as gone as soon as it is
	// being deleted, not when it finally is: the owner may replace a pod
	// in graceful termination at once.
	DeletingIsGone bool
}

// Owner returns the owner that ref names in namespace, if it exists.
func (h *Dependents[O, D]) Owner(namespace string, ref *metav1.OwnerReference) (O, bool) {
	return ResolveControllerRef(namespace, ref, h.OwnerKind, h.GetOwner)
}

// Handler is the informer event handler doing all of the above.
func (h *Dependents[O, D]) Handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{AddFunc: h.Added, UpdateFunc: h.Updated, DeleteFunc: h.Deleted}
}

// Added handles a dependent's add event.
func (h *Dependents[O, D]) Added(obj any) {
	d, ok := obj.(D)
	if !ok {
		return
	}
	if d.GetDeletionTimestamp() != nil {
		// Seen for the first time already being deleted (after a
		// relist): not a creation anyone awaits.
		h.Deleted(d)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(d); ref != nil {
		if owner, ok := h.Owner(d.GetNamespace(), ref); ok {
			if h.Created != nil {
				h.Created(owner, d)
			}
			h.Enqueue(owner)
		}
		return
	}
	for _, owner := range h.Adopters(d) {
		h.Enqueue(owner)
	}
}

// Updated handles a dependent's update event.
func (h *Dependents[O, D]) Updated(oldObj, newObj any) {
	old, okOld := oldObj.(D)
	cur, okCur := newObj.(D)
	if !okOld || !okCur || old.GetResourceVersion() == cur.GetResourceVersion() {
		return // a resync: nothing changed
	}
	if h.DeletingIsGone && cur.GetDeletionTimestamp() != nil {
		h.Deleted(cur)
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if owner, ok := h.Owner(old.GetNamespace(), oldRef); ok {
			h.Enqueue(owner)
		}
	}
	if curRef != nil {
		if owner, ok := h.Owner(cur.GetNamespace(), curRef); ok {
			h.Enqueue(owner)
			if h.Changed != nil {
				h.Changed(owner, old, cur)
			}
		}
		return
	}
	if refChanged || !reflect.DeepEqual(old.GetLabels(), cur.GetLabels()) {
		for _, owner := range h.Adopters(cur) {
			h.Enqueue(owner)
		}
	}
}

// Deleted handles a dependent's delete event (tombstones included).
func (h *Dependents[O, D]) Deleted(obj any) {
	d, ok := FromTombstone[D](obj)
	if !ok {
		return
	}
	owner, ok := h.Owner(d.GetNamespace(), metav1.GetControllerOfNoCopy(d))
	if !ok {
		return
	}
	if h.Gone != nil {
		h.Gone(owner, d)
	}
	h.Enqueue(owner)
}
