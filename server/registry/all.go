package registry

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	// The install packages register internal and v1 types, conversions and
	// defaulting functions into legacyscheme.Scheme.
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	_ "k8s.io/kubernetes/pkg/apis/authentication/install"
	_ "k8s.io/kubernetes/pkg/apis/authorization/install"
	_ "k8s.io/kubernetes/pkg/apis/autoscaling/install"
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	_ "k8s.io/kubernetes/pkg/apis/coordination/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/discovery/install"
	_ "k8s.io/kubernetes/pkg/apis/events/install"
	_ "k8s.io/kubernetes/pkg/apis/networking/install"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	_ "k8s.io/kubernetes/pkg/apis/scheduling/install"
	_ "k8s.io/kubernetes/pkg/apis/storage/install"

	"k8s.io/kubernetes/pkg/registry/apps/controllerrevision"
	"k8s.io/kubernetes/pkg/registry/apps/daemonset"
	"k8s.io/kubernetes/pkg/registry/apps/deployment"
	"k8s.io/kubernetes/pkg/registry/apps/replicaset"
	"k8s.io/kubernetes/pkg/registry/apps/statefulset"
	"k8s.io/kubernetes/pkg/registry/batch/cronjob"
	"k8s.io/kubernetes/pkg/registry/batch/job"
	"k8s.io/kubernetes/pkg/registry/coordination/lease"
	"k8s.io/kubernetes/pkg/registry/core/configmap"
	"k8s.io/kubernetes/pkg/registry/core/endpoint"
	"k8s.io/kubernetes/pkg/registry/core/event"
	"k8s.io/kubernetes/pkg/registry/core/limitrange"
	"k8s.io/kubernetes/pkg/registry/core/namespace"
	"k8s.io/kubernetes/pkg/registry/core/node"
	"k8s.io/kubernetes/pkg/registry/core/persistentvolume"
	"k8s.io/kubernetes/pkg/registry/core/persistentvolumeclaim"
	"k8s.io/kubernetes/pkg/registry/core/pod"
	"k8s.io/kubernetes/pkg/registry/core/podtemplate"
	"k8s.io/kubernetes/pkg/registry/core/resourcequota"
	"k8s.io/kubernetes/pkg/registry/core/secret"
	"k8s.io/kubernetes/pkg/registry/core/service"
	"k8s.io/kubernetes/pkg/registry/core/serviceaccount"
	"k8s.io/kubernetes/pkg/registry/discovery/endpointslice"
	"k8s.io/kubernetes/pkg/registry/networking/ingress"
	"k8s.io/kubernetes/pkg/registry/networking/ingressclass"
	"k8s.io/kubernetes/pkg/registry/networking/networkpolicy"
	"k8s.io/kubernetes/pkg/registry/policy/poddisruptionbudget"
	"k8s.io/kubernetes/pkg/registry/rbac/clusterrole"
	"k8s.io/kubernetes/pkg/registry/rbac/clusterrolebinding"
	"k8s.io/kubernetes/pkg/registry/rbac/role"
	"k8s.io/kubernetes/pkg/registry/rbac/rolebinding"
	"k8s.io/kubernetes/pkg/registry/scheduling/priorityclass"
	"k8s.io/kubernetes/pkg/registry/storage/storageclass"
)

var (
	coreV1         = schema.GroupVersion{Version: "v1"}
	appsV1         = schema.GroupVersion{Group: "apps", Version: "v1"}
	batchV1        = schema.GroupVersion{Group: "batch", Version: "v1"}
	networkingV1   = schema.GroupVersion{Group: "networking.k8s.io", Version: "v1"}
	discoveryV1    = schema.GroupVersion{Group: "discovery.k8s.io", Version: "v1"}
	coordinationV1 = schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}
	rbacV1         = schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}
	eventsV1       = schema.GroupVersion{Group: "events.k8s.io", Version: "v1"}
	storageV1      = schema.GroupVersion{Group: "storage.k8s.io", Version: "v1"}
	policyV1       = schema.GroupVersion{Group: "policy", Version: "v1"}
	schedulingV1   = schema.GroupVersion{Group: "scheduling.k8s.io", Version: "v1"}
	authnV1        = schema.GroupVersion{Group: "authentication.k8s.io", Version: "v1"}
	authzV1        = schema.GroupVersion{Group: "authorization.k8s.io", Version: "v1"}
)

// all is the table of served resources; see Resource for the fields.
var all = []Resource{
	{GroupVersion: coreV1, Kind: "Namespace", Resource: "namespaces", ShortNames: []string{"ns"}, Strategy: namespace.Strategy, Status: namespace.StatusStrategy, Subresources: []string{"finalize"}, Attrs: namespace.GetAttrs, ReturnDeletedObject: true},
	{GroupVersion: coreV1, Kind: "Pod", Resource: "pods", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true, Strategy: pod.Strategy, Status: pod.StatusStrategy, Subresources: []string{"attach", "binding", "eviction", "exec", "log", "portforward"}, Attrs: pod.GetAttrs, ReturnDeletedObject: true},
	{GroupVersion: coreV1, Kind: "Binding", Resource: "bindings", Namespaced: true, Virtual: true, Verbs: []string{"create"}},
	{GroupVersion: coreV1, Kind: "Service", Resource: "services", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true, Strategy: service.Strategy, Status: service.StatusStrategy, Attrs: service.GetAttrs, ReturnDeletedObject: true},
	{GroupVersion: coreV1, Kind: "Endpoints", Resource: "endpoints", SingularName: "endpoints", ShortNames: []string{"ep"}, Namespaced: true, Strategy: endpoint.Strategy},
	{GroupVersion: coreV1, Kind: "ConfigMap", Resource: "configmaps", ShortNames: []string{"cm"}, Namespaced: true, Strategy: configmap.Strategy, Attrs: configmap.GetAttrs},
	{GroupVersion: coreV1, Kind: "Secret", Resource: "secrets", Namespaced: true, Strategy: secret.Strategy, Attrs: secret.GetAttrs},
	{GroupVersion: coreV1, Kind: "ServiceAccount", Resource: "serviceaccounts", ShortNames: []string{"sa"}, Namespaced: true, Strategy: serviceaccount.Strategy, Subresources: []string{"token"}, ReturnDeletedObject: true},
	{GroupVersion: coreV1, Kind: "Node", Resource: "nodes", ShortNames: []string{"no"}, Strategy: node.Strategy, Status: node.StatusStrategy, Subresources: []string{"proxy"}, Attrs: node.GetAttrs},
	{GroupVersion: coreV1, Kind: "Event", Resource: "events", ShortNames: []string{"ev"}, Namespaced: true, Strategy: event.Strategy, Attrs: event.GetAttrs},
	{GroupVersion: coreV1, Kind: "LimitRange", Resource: "limitranges", ShortNames: []string{"limits"}, Namespaced: true, Strategy: limitrange.Strategy},
	{GroupVersion: coreV1, Kind: "ResourceQuota", Resource: "resourcequotas", ShortNames: []string{"quota"}, Namespaced: true, Strategy: resourcequota.Strategy, Status: resourcequota.StatusStrategy, ReturnDeletedObject: true},
	{GroupVersion: coreV1, Kind: "PodTemplate", Resource: "podtemplates", Namespaced: true, Strategy: podtemplate.Strategy, ReturnDeletedObject: true},
	{GroupVersion: coreV1, Kind: "PersistentVolume", Resource: "persistentvolumes", ShortNames: []string{"pv"}, Strategy: persistentvolume.Strategy, Status: persistentvolume.StatusStrategy, Attrs: persistentvolume.GetAttrs, ReturnDeletedObject: true},
	{GroupVersion: coreV1, Kind: "PersistentVolumeClaim", Resource: "persistentvolumeclaims", ShortNames: []string{"pvc"}, Namespaced: true, Strategy: persistentvolumeclaim.Strategy, Status: persistentvolumeclaim.StatusStrategy, Attrs: persistentvolumeclaim.GetAttrs, ReturnDeletedObject: true},

	{GroupVersion: appsV1, Kind: "Deployment", Resource: "deployments", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true, Strategy: deployment.Strategy, Status: deployment.StatusStrategy, Scale: true},
	{GroupVersion: appsV1, Kind: "ReplicaSet", Resource: "replicasets", ShortNames: []string{"rs"}, Categories: []string{"all"}, Namespaced: true, Strategy: replicaset.Strategy, Status: replicaset.StatusStrategy, Scale: true, Attrs: replicaset.GetAttrs},
	{GroupVersion: appsV1, Kind: "StatefulSet", Resource: "statefulsets", ShortNames: []string{"sts"}, Categories: []string{"all"}, Namespaced: true, Strategy: statefulset.Strategy, Status: statefulset.StatusStrategy, Scale: true},
	{GroupVersion: appsV1, Kind: "DaemonSet", Resource: "daemonsets", ShortNames: []string{"ds"}, Categories: []string{"all"}, Namespaced: true, Strategy: daemonset.Strategy, Status: daemonset.StatusStrategy},
	{GroupVersion: appsV1, Kind: "ControllerRevision", Resource: "controllerrevisions", Namespaced: true, Strategy: controllerrevision.Strategy},

	{GroupVersion: batchV1, Kind: "Job", Resource: "jobs", Categories: []string{"all"}, Namespaced: true, Strategy: job.Strategy, Status: job.StatusStrategy, Attrs: job.GetAttrs},
	{GroupVersion: batchV1, Kind: "CronJob", Resource: "cronjobs", ShortNames: []string{"cj"}, Categories: []string{"all"}, Namespaced: true, Strategy: cronjob.Strategy, Status: cronjob.StatusStrategy},

	{GroupVersion: networkingV1, Kind: "Ingress", Resource: "ingresses", ShortNames: []string{"ing"}, Namespaced: true, Strategy: ingress.Strategy, Status: ingress.StatusStrategy},
	{GroupVersion: networkingV1, Kind: "IngressClass", Resource: "ingressclasses", Strategy: ingressclass.Strategy},
	{GroupVersion: networkingV1, Kind: "NetworkPolicy", Resource: "networkpolicies", ShortNames: []string{"netpol"}, Namespaced: true, Strategy: networkpolicy.Strategy},

	{GroupVersion: discoveryV1, Kind: "EndpointSlice", Resource: "endpointslices", Namespaced: true, Strategy: endpointslice.Strategy},
	{GroupVersion: coordinationV1, Kind: "Lease", Resource: "leases", Namespaced: true, Strategy: lease.Strategy},

	{GroupVersion: rbacV1, Kind: "ClusterRole", Resource: "clusterroles", Strategy: clusterrole.Strategy},
	{GroupVersion: rbacV1, Kind: "ClusterRoleBinding", Resource: "clusterrolebindings", Strategy: clusterrolebinding.Strategy},
	{GroupVersion: rbacV1, Kind: "Role", Resource: "roles", Namespaced: true, Strategy: role.Strategy},
	{GroupVersion: rbacV1, Kind: "RoleBinding", Resource: "rolebindings", Namespaced: true, Strategy: rolebinding.Strategy},

	{GroupVersion: eventsV1, Kind: "Event", Resource: "events", ShortNames: []string{"ev"}, Namespaced: true, StorageResource: "events", StorageVersion: coreV1, Strategy: event.Strategy, Attrs: event.GetAttrs},
	{GroupVersion: storageV1, Kind: "StorageClass", Resource: "storageclasses", ShortNames: []string{"sc"}, Strategy: storageclass.Strategy, ReturnDeletedObject: true},
	{GroupVersion: policyV1, Kind: "PodDisruptionBudget", Resource: "poddisruptionbudgets", ShortNames: []string{"pdb"}, Namespaced: true, Strategy: poddisruptionbudget.Strategy, Status: poddisruptionbudget.StatusStrategy},
	{GroupVersion: schedulingV1, Kind: "PriorityClass", Resource: "priorityclasses", ShortNames: []string{"pc"}, Strategy: priorityclass.Strategy},

	{GroupVersion: authnV1, Kind: "SelfSubjectReview", Resource: "selfsubjectreviews", Virtual: true, Verbs: []string{"create"}},
	{GroupVersion: authzV1, Kind: "SelfSubjectAccessReview", Resource: "selfsubjectaccessreviews", Virtual: true, Verbs: []string{"create"}},
	{GroupVersion: authzV1, Kind: "SelfSubjectRulesReview", Resource: "selfsubjectrulesreviews", Virtual: true, Verbs: []string{"create"}},
}

func init() {
	for i := range all {
		r := &all[i]
		if r.SingularName == "" {
			r.SingularName = singular(r.Kind)
		}
		if r.StorageResource == "" && !r.Virtual {
			r.StorageResource = r.Resource
		}
		if r.StorageVersion.Empty() {
			r.StorageVersion = r.GroupVersion
		}
	}
}

// All returns the served resources in a stable order (discovery order).
func All() []*Resource {
	out := make([]*Resource, len(all))
	for i := range all {
		out[i] = &all[i]
	}
	return out
}

func singular(kind string) string {
	b := []byte(kind)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
