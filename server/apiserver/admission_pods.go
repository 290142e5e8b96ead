package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/scheduling"

	"kite/server/storage"
)

// defaultTolerationSeconds is how long pods stay on a node that is not
// ready or unreachable before the node lifecycle controller evicts them,
// unless they say otherwise (kube-apiserver's DefaultTolerationSeconds
// admission, 300 s).
var defaultTolerationSeconds = int64(300)

var priorityClassesGR = schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"}

// admitPod applies the mutating admission kube-apiserver runs on new pods
// by default: DefaultTolerationSeconds and Priority.
func (s *Server) admitPod(ctx context.Context, h *resourceHandler, pod *api.Pod) error {
	addDefaultToleration(pod, corev1.TaintNodeNotReady)
	addDefaultToleration(pod, corev1.TaintNodeUnreachable)
	return s.resolvePriority(ctx, h, pod)
}

// addDefaultToleration lets pod tolerate the NoExecute taint key for
// defaultTolerationSeconds, unless it already tolerates it somehow.
func addDefaultToleration(pod *api.Pod, key string) {
	for _, t := range pod.Spec.Tolerations {
		if (t.Key == key || t.Key == "" && t.Operator == api.TolerationOpExists) &&
			(t.Effect == api.TaintEffectNoExecute || t.Effect == "") {
			return
		}
	}
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, api.Toleration{
		Key: key, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute, TolerationSeconds: &defaultTolerationSeconds,
	})
}

// resolvePriority sets spec.priority and spec.preemptionPolicy from the
// pod's PriorityClass, or from the global default class, as the Priority
// admission plugin does; a class that does not exist is refused.
func (s *Server) resolvePriority(ctx context.Context, h *resourceHandler, pod *api.Pod) error {
	classes := s.handlerFor(priorityClassesGR)
	var class *scheduling.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		obj, err := classes.store.Cached(ctx, "", name)
		if apierrors.IsNotFound(err) {
			return apierrors.NewForbidden(h.groupResource(), pod.Name, fmt.Errorf("no PriorityClass with name %s was found", name))
		}
		if err != nil {
			return err
		}
		class = obj.(*scheduling.PriorityClass)
	} else {
		class = s.globalDefaultPriorityClass(classes)
	}
	var priority int32
	policy := api.PreemptLowerPriority
	if class != nil {
		priority = class.Value
		if class.PreemptionPolicy != nil {
			policy = *class.PreemptionPolicy
		}
		pod.Spec.PriorityClassName = class.Name
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return apierrors.NewForbidden(h.groupResource(), pod.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority))
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return apierrors.NewForbidden(h.groupResource(), pod.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.Priority = &priority
	pod.Spec.PreemptionPolicy = &policy
	return nil
}

// keepPriority carries the admission-computed priority over an update
// that leaves it out (a `kubectl replace` of a manifest), as upstream does;
// validation then refuses real changes.
func keepPriority(pod, old *api.Pod) {
	if pod.Spec.Priority == nil {
		pod.Spec.Priority = old.Spec.Priority
	}
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
	}
}

// globalDefaultPriorityClass is the class marked globalDefault, if any; of
// several (a create race), the lowest value wins, as upstream picks.
func (s *Server) globalDefaultPriorityClass(classes *resourceHandler) *scheduling.PriorityClass {
	objs, _, err := classes.store.Cache().List(classes.store.StorageResource(), classes.store.Prefix(""), storage.Predicate{})
	if err != nil {
		return nil
	}
	var found *scheduling.PriorityClass
	for _, o := range objs {
		pc := storage.Unwrap(o).(*scheduling.PriorityClass)
		if pc.GlobalDefault && (found == nil || pc.Value < found.Value) {
			found = pc
		}
	}
	return found
}
