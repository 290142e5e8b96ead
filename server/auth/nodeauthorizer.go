package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	api "k8s.io/kubernetes/pkg/apis/core"
)

// NodeGraph answers the questions the node authorizer asks about what is
// bound to a node; the API server answers them from its watch cache.
type NodeGraph interface {
	// PodsOnNode returns the pods bound to node in namespace ("" for all).
	PodsOnNode(ctx context.Context, node, namespace string) ([]*api.Pod, error)
	// PodNodeName returns spec.nodeName of a pod, or ErrObjectNotFound.
	PodNodeName(ctx context.Context, namespace, name string) (string, error)
	// ClaimVolumeName returns spec.volumeName of a PersistentVolumeClaim,
	// or ErrObjectNotFound.
	ClaimVolumeName(ctx context.Context, namespace, name string) (string, error)
}

// NodeIdentity returns the node a user is, as upstream tells kubelets
// apart: a user system:node:<name> in group system:nodes.
func NodeIdentity(u user.Info) (name string, isNode bool) {
	if u == nil || !slices.Contains(u.GetGroups(), NodesGroup) {
		return "", false
	}
	name, ok := strings.CutPrefix(u.GetName(), NodeUserPrefix)
	return name, ok
}

// NodeAuthorizer limits kubelets to what they need for the pods bound to
// them, as upstream's Node authorization mode together with the
// system:node role: reading the cluster's nodes, services, endpoints and
// pods (and namespaces, for the node's DNS server); writing their own Node, Lease and pods' status; reading secrets,
// config maps and volumes only of pods bound to them; and tokens only for
// their pods' service accounts. Checks that need the request body (mirror
// pods, the names of created objects, token bindings) are the API server's
// node restriction admission.
type NodeAuthorizer struct {
	graph NodeGraph
}

// NewNodeAuthorizer returns an authorizer answering from graph.
func NewNodeAuthorizer(graph NodeGraph) *NodeAuthorizer { return &NodeAuthorizer{graph: graph} }

var readVerbs = []string{"get", "list", "watch"}

// staticNodeRules are what any node may do, whatever it is bound to:
// group/resource -> verbs.
var staticNodeRules = map[string][]string{
	"/services":                       readVerbs,
	"/endpoints":                      readVerbs,
	"discovery.k8s.io/endpointslices": readVerbs,
	// The node's DNS server tells a name in a missing namespace
	// (NXDOMAIN) from a missing name in an existing one.
	"/namespaces": readVerbs,
	// The node's ingress proxy routes by Ingresses and their classes.
	"networking.k8s.io/ingresses":                    readVerbs,
	"networking.k8s.io/ingressclasses":               readVerbs,
	"/events":                                        {"create", "patch", "update"},
	"events.k8s.io/events":                           {"create", "patch", "update"},
	"certificates.k8s.io/certificatesigningrequests": {"create", "get", "list", "watch"},
	"authentication.k8s.io/tokenreviews":             {"create"},
	"authentication.k8s.io/selfsubjectreviews":       {"create"},
	"authorization.k8s.io/subjectaccessreviews":      {"create"},
	"authorization.k8s.io/selfsubjectaccessreviews":  {"create"},
	"authorization.k8s.io/selfsubjectrulesreviews":   {"create"},
	"node.k8s.io/runtimeclasses":                     readVerbs,
	"storage.k8s.io/csidrivers":                      readVerbs,
	"authorization.k8s.io/localsubjectaccessreviews": {"create"},
}

// publicPaths are the non-resource URLs every authenticated user may GET
// (upstream's system:discovery and system:public-info-viewer roles).
var publicPaths = []string{"/api", "/api/*", "/apis", "/apis/*", "/version", "/version/", "/healthz", "/livez", "/readyz", "/openapi/*"}

// Authorize decides for node users and has no opinion on anyone else.
func (a *NodeAuthorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	node, isNode := NodeIdentity(attrs.GetUser())
	if !isNode {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if node == "" {
		return authorizer.DecisionNoOpinion, fmt.Sprintf("unknown node for user %q", attrs.GetUser().GetName()), nil
	}
	if !attrs.IsResourceRequest() {
		if attrs.GetVerb() == "get" && pathMatches(attrs.GetPath(), publicPaths) {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	}
	switch attrs.GetAPIGroup() + "/" + attrs.GetResource() {
	case "/nodes":
		return a.authorizeNode(node, attrs)
	case "/pods":
		return a.authorizePod(ctx, node, attrs)
	case "/secrets":
		if tlsSecretsOnly(attrs) {
			return allow()
		}
		return a.authorizeReferenced(ctx, node, attrs, readVerbs)
	case "/configmaps":
		return a.authorizeReferenced(ctx, node, attrs, readVerbs)
	case "/persistentvolumeclaims", "/persistentvolumes":
		return a.authorizeReferenced(ctx, node, attrs, []string{"get"})
	case "/serviceaccounts":
		return a.authorizeToken(ctx, node, attrs)
	case "coordination.k8s.io/leases":
		return authorizeLease(node, attrs)
	}
	if attrs.GetSubresource() == "" && slices.Contains(staticNodeRules[attrs.GetAPIGroup()+"/"+attrs.GetResource()], attrs.GetVerb()) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// tlsSecretsOnly tells a list or watch of Secrets narrowed to type
// kubernetes.io/tls: the node's ingress proxy serves the certificates
// Ingresses name, from any namespace, as k3s's Traefik may read them.
// This goes beyond upstream's node authorization, which gives a node only
// its own pods' Secrets.
func tlsSecretsOnly(attrs authorizer.Attributes) bool {
	if (attrs.GetVerb() != "list" && attrs.GetVerb() != "watch") || attrs.GetSubresource() != "" {
		return false
	}
	reqs, err := attrs.GetFieldSelector()
	if err != nil {
		return false
	}
	for _, r := range reqs {
		if r.Field == "type" && (r.Operator == selection.Equals || r.Operator == selection.DoubleEquals) && r.Value == string(api.SecretTypeTLS) {
			return true
		}
	}
	return false
}

func allow() (authorizer.Decision, string, error) { return authorizer.DecisionAllow, "", nil }

func deny(format string, args ...any) (authorizer.Decision, string, error) {
	return authorizer.DecisionNoOpinion, fmt.Sprintf(format, args...), nil
}

// authorizeNode lets a node read every Node and write only its own; the
// name of a created Node is checked by admission.
func (a *NodeAuthorizer) authorizeNode(node string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	verb, name := attrs.GetVerb(), attrs.GetName()
	switch attrs.GetSubresource() {
	case "":
		switch verb {
		case "get", "list", "watch", "create":
			return allow()
		case "update", "patch", "delete":
			if name == node {
				return allow()
			}
			return deny("node '%s' cannot modify node '%s'", node, name)
		}
	case "status":
		switch verb {
		case "get", "update", "patch":
			if name == node {
				return allow()
			}
			return deny("node '%s' cannot modify node '%s'", node, name)
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// authorizePod lets a node read all pods and change only those bound to
// it; which pods it may create (mirror pods of its own) is admission's
// call.
func (a *NodeAuthorizer) authorizePod(ctx context.Context, node string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	verb := attrs.GetVerb()
	switch attrs.GetSubresource() + "/" + verb {
	case "/get", "/list", "/watch", "/create":
		return allow()
	case "/delete", "status/get", "status/update", "status/patch", "eviction/create":
	default:
		return authorizer.DecisionNoOpinion, "", nil
	}
	bound, err := a.graph.PodNodeName(ctx, attrs.GetNamespace(), attrs.GetName())
	if errors.Is(err, ErrObjectNotFound) {
		// As upstream's NodeRestriction: a pod that is gone gets the
		// request's own 404, which tells a kubelet finishing a deletion
		// that it is done; a 403 would have it retry for ever.
		return allow()
	}
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if bound != node {
		return deny("node '%s' can only %s pods with spec.nodeName set to itself", node, verb)
	}
	return allow()
}

// authorizeReferenced lets a node read a secret, config map, claim or
// volume only when a pod bound to it uses it.
func (a *NodeAuthorizer) authorizeReferenced(ctx context.Context, node string, attrs authorizer.Attributes, verbs []string) (authorizer.Decision, string, error) {
	if !slices.Contains(verbs, attrs.GetVerb()) {
		if len(verbs) == 1 {
			return deny("can only get individual resources of this type")
		}
		return deny("can only read resources of this type")
	}
	if attrs.GetSubresource() != "" {
		return deny("cannot read subresource")
	}
	if attrs.GetName() == "" {
		return deny("can only get individual resources of this type")
	}
	ok, err := a.uses(ctx, node, attrs.GetResource(), attrs.GetNamespace(), attrs.GetName())
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if !ok {
		return deny("no relationship found between node '%s' and this object", node)
	}
	return allow()
}

// authorizeToken lets a node ask for tokens of the service accounts its
// pods run as; that the token is bound to such a pod is admission's check.
func (a *NodeAuthorizer) authorizeToken(ctx context.Context, node string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if attrs.GetVerb() != "create" || attrs.GetName() == "" {
		return deny("can only create tokens for individual service accounts")
	}
	if attrs.GetSubresource() != "token" {
		return deny("can only create token subresource of serviceaccount")
	}
	ok, err := a.uses(ctx, node, "serviceaccounts", attrs.GetNamespace(), attrs.GetName())
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if !ok {
		return deny("no relationship found between node '%s' and this object", node)
	}
	return allow()
}

// authorizeLease lets a node keep its own heartbeat Lease.
func authorizeLease(node string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	switch attrs.GetVerb() {
	case "get", "create", "update", "patch", "delete":
	default:
		return deny("can only get, create, update, patch, or delete a node lease")
	}
	if attrs.GetNamespace() != api.NamespaceNodeLease {
		return deny("can only access leases in the %q system namespace", api.NamespaceNodeLease)
	}
	// A create names its lease in the body: admission checks it.
	if attrs.GetVerb() != "create" && attrs.GetName() != node {
		return deny("can only access node lease with the same name as the requesting node")
	}
	return allow()
}

// uses reports whether a pod bound to node refers to the object.
func (a *NodeAuthorizer) uses(ctx context.Context, node, resource, namespace, name string) (bool, error) {
	if resource == "persistentvolumes" {
		return a.usesVolume(ctx, node, name)
	}
	pods, err := a.graph.PodsOnNode(ctx, node, namespace)
	if err != nil {
		return false, err
	}
	for _, pod := range pods {
		if podRefers(pod, resource, name) {
			return true, nil
		}
	}
	return false, nil
}

// usesVolume reports whether a pod bound to node mounts a claim bound to
// the PersistentVolume name.
func (a *NodeAuthorizer) usesVolume(ctx context.Context, node, name string) (bool, error) {
	pods, err := a.graph.PodsOnNode(ctx, node, "")
	if err != nil {
		return false, err
	}
	for _, pod := range pods {
		for _, claim := range podClaims(pod) {
			volume, err := a.graph.ClaimVolumeName(ctx, pod.Namespace, claim)
			if errors.Is(err, ErrObjectNotFound) {
				continue
			}
			if err != nil {
				return false, err
			}
			if volume == name {
				return true, nil
			}
		}
	}
	return false, nil
}

// podRefers reports whether pod uses the secret, config map, claim or
// service account name.
func podRefers(pod *api.Pod, resource, name string) bool {
	found := false
	match := func(n string) bool {
		if n == name {
			found = true
			return false
		}
		return true
	}
	switch resource {
	case "secrets":
		podutil.VisitPodSecretNames(pod, match, podutil.AllContainers)
	case "configmaps":
		podutil.VisitPodConfigmapNames(pod, match, podutil.AllContainers)
	case "persistentvolumeclaims":
		found = slices.Contains(podClaims(pod), name)
	case "serviceaccounts":
		found = pod.Spec.ServiceAccountName == name
	}
	return found
}

// podClaims are the PersistentVolumeClaims a pod mounts, including those
// of its generic ephemeral volumes (named <pod>-<volume>).
func podClaims(pod *api.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// pathMatches matches a URL path against patterns ending in "*" as
// prefixes, as RBAC's non-resource URLs do.
func pathMatches(path string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(path, prefix) || p == path {
			return true
		}
	}
	return false
}
