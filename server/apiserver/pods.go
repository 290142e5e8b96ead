package apiserver

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/policy"

	"kite/server/storage"
)

// bind assigns a pod to a node (pods/binding, and the bindings resource),
// bypassing the pod update rules that keep spec.nodeName immutable, as the
// scheduler's binding does upstream.
func (h *resourceHandler) bind(w http.ResponseWriter, r *http.Request, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "Binding"}
	versioned, err := h.decodeVersioned(r, body, "", gvk)
	if err != nil {
		writeError(w, r, err)
		return
	}
	binding := &api.Binding{}
	if err := scheme.Convert(versioned, binding, nil); err != nil {
		writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	name := info.name
	if name == "" {
		name = binding.Name
	}
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		writeError(w, r, apierrors.NewInvalid(gvk.GroupKind(), name, fieldInvalid("target.kind", binding.Target.Kind, "must be empty or 'Node'")))
		return
	}
	if binding.Target.Name == "" {
		writeError(w, r, apierrors.NewInvalid(gvk.GroupKind(), name, fieldRequired("target.name", "")))
		return
	}
	pods := h.s.handlerFor(schema.GroupResource{Resource: "pods"})
	for attempt := 0; ; attempt++ {
		// The first try starts from the watch cache, which the
		// compare-and-swap below checks anyway: a scheduler binding
		// thousands of pods saves an etcd read each.
		read := pods.store.Cached
		if attempt > 0 {
			read = pods.store.Get
		}
		cur, err := read(r.Context(), info.namespace, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		pod := cur.(*api.Pod).DeepCopy()
		if pod.DeletionTimestamp != nil {
			writeError(w, r, apierrors.NewConflict(pods.groupResource(), name, fmt.Errorf("pod %v is being deleted, cannot be assigned to a host", name)))
			return
		}
		if pod.Spec.NodeName != "" {
			writeError(w, r, apierrors.NewConflict(pods.groupResource(), name, fmt.Errorf("pod %v is already assigned to node %q", name, pod.Spec.NodeName)))
			return
		}
		pod.Spec.NodeName = binding.Target.Name
		setPodCondition(pod, api.PodCondition{Type: api.PodScheduled, Status: api.ConditionTrue, LastTransitionTime: metav1.Now()})
		rev, _ := storage.ParseRevision(pod.ResourceVersion)
		_, err = pods.store.Update(r.Context(), info.namespace, name, pod, rev)
		if apierrors.IsConflict(err) && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeObject(w, r, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, schema.GroupVersion{Version: "v1"})
		return
	}
}

func setPodCondition(pod *api.Pod, c api.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// evict deletes a pod unless a PodDisruptionBudget forbids it, in which
// case the caller gets 429 like from kube-apiserver.
func (h *resourceHandler) evict(w http.ResponseWriter, r *http.Request, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	gvk := schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}
	versioned, err := h.decodeVersioned(r, body, "", gvk)
	if err != nil {
		writeError(w, r, err)
		return
	}
	eviction := &policy.Eviction{}
	if err := scheme.Convert(versioned, eviction, nil); err != nil {
		writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if eviction.Name != "" && eviction.Name != info.name {
		writeError(w, r, apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	cur, err := h.store.Get(r.Context(), info.namespace, info.name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	pod := cur.(*api.Pod)
	// Pods that are not running disrupt nothing; budgets apply to the rest.
	if pod.Status.Phase != api.PodSucceeded && pod.Status.Phase != api.PodFailed && pod.Status.Phase != api.PodPending {
		if err := h.s.takeDisruption(r, pod); err != nil {
			writeError(w, r, err)
			return
		}
	}
	opts := eviction.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if _, _, err := h.deleteObject(r, requestInfo{gv: info.gv, namespace: info.namespace, resource: "pods", name: info.name, verb: "delete"}, opts); err != nil {
		writeError(w, r, err)
		return
	}
	writeObject(w, r, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, schema.GroupVersion{Version: "v1"})
}

// takeDisruption checks the pod's PodDisruptionBudgets and uses up one
// allowed disruption of each.
func (s *Server) takeDisruption(r *http.Request, pod *api.Pod) error {
	pdbs := s.handlerFor(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"})
	// A consistent read, as upstream's: the budget a client just updated
	// must count, even if the watch cache has not caught up yet.
	if _, err := pdbs.store.Cache().WaitFresh(r.Context()); err != nil {
		return apierrors.NewTimeoutError(err.Error(), 1)
	}
	items, _, err := pdbs.store.Cache().List(pdbs.store.StorageResource(), pdbs.store.Prefix(pod.Namespace), storage.Predicate{})
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	for _, item := range items {
		pdb := storage.Unwrap(item).(*policy.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if pdb.Status.DisruptionsAllowed <= 0 || pdb.Status.ObservedGeneration < pdb.Generation {
			err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
			err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
				Type:    "DisruptionBudget",
				Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy),
			})
			return err
		}
		next := pdb.DeepCopy()
		next.Status.DisruptionsAllowed--
		if next.Status.DisruptedPods == nil {
			next.Status.DisruptedPods = map[string]metav1.Time{}
		}
		next.Status.DisruptedPods[pod.Name] = metav1.Now()
		rev, _ := storage.ParseRevision(pdb.ResourceVersion)
		if _, err := pdbs.store.Update(r.Context(), pdb.Namespace, pdb.Name, next, rev); err != nil {
			return err
		}
	}
	return nil
}
