package resourcequota

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"

	"kite/server/controllers"
)

// scopeSelectors are a quota's scopes and scope selector as one list of
// requirements an object must meet to be charged.
func scopeSelectors(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// asSelector turns a scope requirement on a value-carrying scope
// (PriorityClass, VolumeAttributesClass) into a label selector over a
// one-label set {scope name: value}.
func asSelector(req corev1.ScopedResourceSelectorRequirement) (labels.Selector, error) {
	var op selection.Operator
	switch req.Operator {
	case corev1.ScopeSelectorOpIn:
		op = selection.In
	case corev1.ScopeSelectorOpNotIn:
		op = selection.NotIn
	case corev1.ScopeSelectorOpExists:
		op = selection.Exists
	case corev1.ScopeSelectorOpDoesNotExist:
		op = selection.DoesNotExist
	default:
		return nil, fmt.Errorf("%q is not a valid scope selector operator", req.Operator)
	}
	r, err := labels.NewRequirement(string(req.ScopeName), op, req.Values)
	if err != nil {
		return nil, err
	}
	return labels.NewSelector().Add(*r), nil
}

// podInScope reports whether the pod meets one scope requirement.
func podInScope(pod *corev1.Pod, req corev1.ScopedResourceSelectorRequirement) (bool, error) {
	switch req.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminatingScope(pod), nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminatingScope(pod), nil
	case corev1.ResourceQuotaScopeBestEffort:
		return podQOS(pod) == corev1.PodQOSBestEffort, nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return podQOS(pod) != corev1.PodQOSBestEffort, nil
	case corev1.ResourceQuotaScopePriorityClass:
		if req.Operator == corev1.ScopeSelectorOpExists {
			return pod.Spec.PriorityClassName != "", nil
		}
		sel, err := asSelector(req)
		if err != nil {
			return false, err
		}
		var set labels.Set
		if pod.Spec.PriorityClassName != "" {
			set = labels.Set{string(corev1.ResourceQuotaScopePriorityClass): pod.Spec.PriorityClassName}
		}
		return sel.Matches(set), nil
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod), nil
	}
	return false, nil
}

// isTerminatingScope: a pod with an active deadline ends on its own.
func isTerminatingScope(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// podQOS is the pod's QoS class, as recorded in its status or computed
// the way the API server does.
func podQOS(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	if resourcehelper.IsPodLevelResourcesSet(pod) {
		return requirementsQOS(pod.Spec.Resources)
	}
	var class corev1.PodQOSClass
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := requirementsQOS(&list[i].Resources)
			switch {
			case c == corev1.PodQOSBurstable:
				return c
			case class == "":
				class = c
			case class != c:
				return corev1.PodQOSBurstable
			}
		}
	}
	if class == "" {
		return corev1.PodQOSBestEffort
	}
	return class
}

// requirementsQOS is the QoS shape of one set of requirements over cpu and
// memory: nothing set is BestEffort, equal non-zero requests and limits
// for both are Guaranteed, anything else Burstable.
func requirementsQOS(r *corev1.ResourceRequirements) corev1.PodQOSClass {
	if r == nil || len(r.Requests) == 0 && len(r.Limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	var class corev1.PodQOSClass
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := r.Requests[name], r.Limits[name]
		var c corev1.PodQOSClass
		switch {
		case !req.Equal(lim):
			return corev1.PodQOSBurstable
		case req.IsZero():
			c = corev1.PodQOSBestEffort
		default:
			c = corev1.PodQOSGuaranteed
		}
		if class == "" {
			class = c
		} else if class != c {
			return corev1.PodQOSBurstable
		}
	}
	return class
}

func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	cross := func(t corev1.PodAffinityTerm) bool { return len(t.Namespaces) != 0 || t.NamespaceSelector != nil }
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if cross(t) {
			return true
		}
	}
	return false
}

// chargeable reports whether the pod's compute resources count at now:
// terminal pods do not, nor do pods past their deletion grace period
// (stuck terminating, say on a lost node). When the answer will turn to
// false later, until says when.
func chargeable(pod *corev1.Pod, now time.Time) (ok bool, until time.Time) {
	if controllers.IsPodTerminal(pod) {
		return false, time.Time{}
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false, time.Time{}
		}
		return true, end
	}
	return true, time.Time{}
}

// podUsage is what one pod is charged: count/pods always (it counts
// stored objects), compute resources and "pods" only while chargeable.
func podUsage(pod *corev1.Pod, now time.Time) (corev1.ResourceList, time.Time) {
	out := corev1.ResourceList{countName(podsGR): one()}
	ok, until := chargeable(pod, now)
	if !ok {
		return out, time.Time{}
	}
	opts := resourcehelper.PodResourcesOptions{UseStatusResources: true}
	return add(out, computeUsage(resourcehelper.PodRequests(pod, opts), resourcehelper.PodLimits(pod, opts))), until
}

// computeUsage names a pod's requests and limits the way quota does.
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: one()}
	for _, r := range []struct{ plain, req, lim corev1.ResourceName }{
		{corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU},
		{corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory},
		{corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage},
	} {
		if q, ok := requests[r.plain]; ok {
			out[r.plain] = q.DeepCopy()
			out[r.req] = q.DeepCopy()
		}
		if q, ok := limits[r.plain]; ok {
			out[r.lim] = q.DeepCopy()
		}
	}
	for name, q := range requests {
		switch {
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			out[name] = q.DeepCopy()
			out[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		case isExtendedResource(name):
			out[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		}
	}
	return out
}

// serviceUsage is what one Service is charged: node ports for NodePort
// and LoadBalancer Services (only the allocated ones when a load balancer
// does without them), a load balancer for LoadBalancer Services.
func serviceUsage(svc *corev1.Service) corev1.ResourceList {
	out := corev1.ResourceList{
		countName(servicesGR):                one(),
		corev1.ResourceServices:              one(),
		corev1.ResourceServicesNodePorts:     zero(),
		corev1.ResourceServicesLoadBalancers: zero(),
	}
	ports := int64(len(svc.Spec.Ports))
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		out[corev1.ResourceServicesNodePorts] = quantity(ports)
	case corev1.ServiceTypeLoadBalancer:
		if svc.Spec.AllocateLoadBalancerNodePorts != nil && !*svc.Spec.AllocateLoadBalancerNodePorts {
			ports = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports++
				}
			}
		}
		out[corev1.ResourceServicesNodePorts] = quantity(ports)
		out[corev1.ResourceServicesLoadBalancers] = one()
	}
	return out
}

// pvcUsage is what one claim is charged, also per storage class; storage
// is the larger of request and allocation, in whole bytes.
func pvcUsage(pvc *corev1.PersistentVolumeClaim) corev1.ResourceList {
	out := corev1.ResourceList{countName(pvcsGR): one(), corev1.ResourcePersistentVolumeClaims: one()}
	class := storageClassOf(pvc)
	if class != "" {
		out[corev1.ResourceName(class+storageClassInfix+string(corev1.ResourcePersistentVolumeClaims))] = one()
	}
	req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return out
	}
	storage := req.DeepCopy()
	if alloc, ok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; ok && alloc.Cmp(storage) > 0 {
		storage = alloc.DeepCopy()
	}
	storage.RoundUp(0)
	out[corev1.ResourceRequestsStorage] = storage
	if class != "" {
		out[corev1.ResourceName(class+storageClassInfix+string(corev1.ResourceRequestsStorage))] = storage.DeepCopy()
	}
	return out
}

// storageClassOf is the claim's class: the field, or the beta annotation.
func storageClassOf(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return pvc.Annotations[corev1.BetaStorageClassAnnotation]
}

// pvcInScope: claims only have the VolumeAttributesClass scope.
func pvcInScope(pvc *corev1.PersistentVolumeClaim, req corev1.ScopedResourceSelectorRequirement) (bool, error) {
	if req.ScopeName != corev1.ResourceQuotaScopeVolumeAttributesClass {
		return false, nil
	}
	names := sets.New[string]()
	if pvc.Spec.VolumeAttributesClassName != nil && *pvc.Spec.VolumeAttributesClassName != "" {
		names.Insert(*pvc.Spec.VolumeAttributesClassName)
	}
	if pvc.Status.CurrentVolumeAttributesClassName != nil && *pvc.Status.CurrentVolumeAttributesClassName != "" {
		names.Insert(*pvc.Status.CurrentVolumeAttributesClassName)
	}
	if m := pvc.Status.ModifyVolumeStatus; m != nil && m.TargetVolumeAttributesClassName != "" {
		names.Insert(m.TargetVolumeAttributesClassName)
	}
	if req.Operator == corev1.ScopeSelectorOpExists {
		return names.Len() > 0, nil
	}
	sel, err := asSelector(req)
	if err != nil {
		return false, err
	}
	if names.Len() == 0 {
		return sel.Matches(labels.Set{}), nil
	}
	for name := range names {
		if sel.Matches(labels.Set{string(corev1.ResourceQuotaScopeVolumeAttributesClass): name}) {
			return true, nil
		}
	}
	return false, nil
}
