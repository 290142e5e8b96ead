package resourcequota

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The resources whose objects carry more than a count.
var (
	podsGR     = schema.GroupResource{Resource: "pods"}
	servicesGR = schema.GroupResource{Resource: "services"}
	pvcsGR     = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

// legacyCounts are the old quota names for plain object counts.
var legacyCounts = map[corev1.ResourceName]schema.GroupResource{
	corev1.ResourceConfigMaps:             {Resource: "configmaps"},
	corev1.ResourceSecrets:                {Resource: "secrets"},
	corev1.ResourceReplicationControllers: {Resource: "replicationcontrollers"},
	corev1.ResourceQuotas:                 {Resource: "resourcequotas"},
}

// ignoredResources are never counted, as upstream: virtual resources and
// events.
var ignoredResources = map[schema.GroupResource]bool{
	{Resource: "bindings"}:                                                 true,
	{Resource: "componentstatuses"}:                                        true,
	{Resource: "events"}:                                                   true,
	{Group: "events.k8s.io", Resource: "events"}:                           true,
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:             true,
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:       true,
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:      true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:  true,
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:   true,
}

// podResources are the fixed names pods are charged under.
var podResources = map[corev1.ResourceName]bool{
	countName(podsGR):                       true,
	corev1.ResourcePods:                     true,
	corev1.ResourceCPU:                      true,
	corev1.ResourceMemory:                   true,
	corev1.ResourceEphemeralStorage:         true,
	corev1.ResourceRequestsCPU:              true,
	corev1.ResourceRequestsMemory:           true,
	corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU:                true,
	corev1.ResourceLimitsMemory:             true,
	corev1.ResourceLimitsEphemeralStorage:   true,
}

var serviceResources = map[corev1.ResourceName]bool{
	countName(servicesGR):                true,
	corev1.ResourceServices:              true,
	corev1.ResourceServicesNodePorts:     true,
	corev1.ResourceServicesLoadBalancers: true,
}

// storageClassInfix joins a storage class name and a claim resource:
// gold.storageclass.storage.k8s.io/requests.storage.
const storageClassInfix = ".storageclass.storage.k8s.io/"

// deviceClassPrefix marks DRA extended resources requested by device class.
const deviceClassPrefix = "deviceclass.resource.kubernetes.io/"

// countName is the count/<resource>.<group> quota name of a resource.
func countName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

// sourceOf names the resource whose objects a quota resource name
// measures; false for names nothing measures (they are left alone).
func sourceOf(name corev1.ResourceName) (schema.GroupResource, bool) {
	n := string(name)
	switch {
	case podResources[name], strings.HasPrefix(n, corev1.ResourceHugePagesPrefix),
		strings.HasPrefix(n, corev1.ResourceRequestsHugePagesPrefix), isExtendedForQuota(name):
		return podsGR, true
	case serviceResources[name]:
		return servicesGR, true
	case name == countName(pvcsGR), name == corev1.ResourcePersistentVolumeClaims, name == corev1.ResourceRequestsStorage,
		strings.HasSuffix(n, storageClassInfix+string(corev1.ResourceRequestsStorage)),
		strings.HasSuffix(n, storageClassInfix+string(corev1.ResourcePersistentVolumeClaims)):
		return pvcsGR, true
	}
	if gr, ok := legacyCounts[name]; ok {
		return gr, true
	}
	rest, ok := strings.CutPrefix(n, "count/")
	if !ok || rest == "" {
		return schema.GroupResource{}, false
	}
	res, group, _ := strings.Cut(rest, ".")
	gr := schema.GroupResource{Group: group, Resource: res}
	if ignoredResources[gr] {
		return schema.GroupResource{}, false
	}
	return gr, true
}

// isNative: unprefixed names and *kubernetes.io/ names are Kubernetes'.
func isNative(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedForQuota: requests.<extended resource> (only requests are
// quota-able for extended resources), including DRA device classes.
func isExtendedForQuota(name corev1.ResourceName) bool {
	n := string(name)
	if !strings.HasPrefix(n, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return !isNative(name) || strings.HasPrefix(n, corev1.DefaultResourceRequestsPrefix+deviceClassPrefix)
}

// isExtendedResource is a resource a container may request that quota
// charges as requests.<name>.
func isExtendedResource(name corev1.ResourceName) bool {
	n := string(name)
	if strings.HasPrefix(n, deviceClassPrefix) {
		return true
	}
	if isNative(name) || strings.HasPrefix(n, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+n)) == 0
}

// one is the quantity every counted object adds.
func one() resource.Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

func zero() resource.Quantity { return resource.Quantity{Format: resource.DecimalSI} }

// add sums b into a (allocating when a is nil) and returns a.
func add(a, b corev1.ResourceList) corev1.ResourceList {
	if a == nil {
		a = corev1.ResourceList{}
	}
	for k, v := range b {
		if cur, ok := a[k]; ok {
			cur.Add(v)
			a[k] = cur
		} else {
			a[k] = v.DeepCopy()
		}
	}
	return a
}

// equalLists compares two resource lists by value.
func equalLists(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func quantity(n int64) resource.Quantity { return *resource.NewQuantity(n, resource.DecimalSI) }
