package apiserver

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/coordination"
	api "k8s.io/kubernetes/pkg/apis/core"

	"kite/server/auth"
)

// nodeRestrictionLabelPrefix marks labels only administrators may set on
// Nodes, so workloads can trust them for placement (upstream's
// node-restriction.kubernetes.io/).
const nodeRestrictionLabelPrefix = "node-restriction.kubernetes.io/"

// requestingNode is the node making the request, if a node is.
func requestingNode(ctx context.Context) (string, bool) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return "", false
	}
	return auth.NodeIdentity(u)
}

// restrictNodeCreate is the create half of upstream's NodeRestriction
// admission: what the node authorizer cannot see without the body. A node
// creates only its own Node and Lease, and only mirror pods of its own
// that use nothing it may not read.
func restrictNodeCreate(ctx context.Context, h *resourceHandler, obj runtime.Object) error {
	node, isNode := requestingNode(ctx)
	if !isNode {
		return nil
	}
	switch o := obj.(type) {
	case *api.Node:
		if o.Name != node {
			return apierrors.NewForbidden(h.groupResource(), o.Name, fmt.Errorf("node %q is not allowed to modify node %q", node, o.Name))
		}
		if bad := restrictedLabels(o.Labels, nil); len(bad) > 0 {
			return apierrors.NewForbidden(h.groupResource(), o.Name, fmt.Errorf("node %q is not allowed to set the following labels: %s", node, strings.Join(bad, ", ")))
		}
	case *coordination.Lease:
		if o.Name != node {
			return apierrors.NewForbidden(h.groupResource(), o.Name, fmt.Errorf("can only access node lease with the same name as the requesting node"))
		}
	case *api.Pod:
		return restrictMirrorPod(h, node, o)
	}
	return nil
}

func restrictMirrorPod(h *resourceHandler, node string, pod *api.Pod) error {
	refuse := func(format string, args ...any) error {
		return apierrors.NewForbidden(h.groupResource(), pod.Name, fmt.Errorf(format, args...))
	}
	if _, mirror := pod.Annotations[api.MirrorPodAnnotationKey]; !mirror {
		return refuse("pod does not have %q annotation, node %q can only create mirror pods", api.MirrorPodAnnotationKey, node)
	}
	if pod.Spec.NodeName != node {
		return refuse("node %q can only create pods with spec.nodeName set to itself", node)
	}
	if refs := pod.OwnerReferences; len(refs) > 0 {
		if len(refs) > 1 {
			return refuse("node %q can only create pods with a single owner reference set to itself", node)
		}
		if ref := refs[0]; ref.APIVersion != "v1" || ref.Kind != "Node" || ref.Name != node {
			return refuse("node %q can only create pods with an owner reference set to itself", node)
		}
	}
	uses := func(visit func(*api.Pod, podutil.Visitor, podutil.ContainerType) bool) bool {
		found := false
		visit(pod, func(string) bool { found = true; return false }, podutil.AllContainers)
		return found
	}
	if uses(podutil.VisitPodSecretNames) {
		return refuse("node %q can not create pods that reference secrets", node)
	}
	if uses(podutil.VisitPodConfigmapNames) {
		return refuse("node %q can not create pods that reference configmaps", node)
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			return refuse("node %q can not create pods that reference persistentvolumeclaims", node)
		}
	}
	return nil
}

// restrictNodeUpdate is the update half: a node may change neither the
// labels reserved for administrators nor its taints, which the control
// plane and administrators own once the Node exists.
func restrictNodeUpdate(ctx context.Context, h *resourceHandler, obj, old runtime.Object) error {
	node, isNode := requestingNode(ctx)
	if !isNode {
		return nil
	}
	n, ok := obj.(*api.Node)
	if !ok {
		return nil
	}
	prev := old.(*api.Node)
	if bad := restrictedLabels(n.Labels, prev.Labels); len(bad) > 0 {
		return apierrors.NewForbidden(h.groupResource(), n.Name, fmt.Errorf("node %q is not allowed to modify labels: %s", node, strings.Join(bad, ", ")))
	}
	if !apiequality.Semantic.DeepEqual(n.Spec.Taints, prev.Spec.Taints) {
		return apierrors.NewForbidden(h.groupResource(), n.Name, fmt.Errorf("node %q is not allowed to modify taints", node))
	}
	return nil
}

// restrictedLabels lists the reserved labels that differ between labels
// and old.
func restrictedLabels(labels, old map[string]string) []string {
	var bad []string
	for _, set := range []map[string]string{labels, old} {
		for k := range set {
			if !strings.HasPrefix(k, nodeRestrictionLabelPrefix) || slices.Contains(bad, k) {
				continue
			}
			now, inNew := labels[k]
			was, inOld := old[k]
			if inNew != inOld || now != was {
				bad = append(bad, k)
			}
		}
	}
	sort.Strings(bad)
	return bad
}
