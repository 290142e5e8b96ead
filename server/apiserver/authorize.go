package apiserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"kite/server/auth"
)

// authorize decides whether u may make the resource request: cluster
// administrators may do anything, nodes what the node authorizer allows.
// reason says why not, in upstream's words, when there is one.
func (s *Server) authorize(r *http.Request, u user.Info, info requestInfo) (ok bool, reason string) {
	if authorized(u, info) || selfReview(u, info) {
		return true, ""
	}
	attrs := attributesFor(r, u, info)
	decision, reason, err := auth.NewNodeAuthorizer(nodeGraph{s}).Authorize(r.Context(), attrs)
	if err != nil {
		slog.Warn("authorizing request", "component", "apiserver", "user", u.GetName(), "verb", info.verb, "resource", info.resource, "err", err)
		return false, reason
	}
	return decision == authorizer.DecisionAllow, reason
}

// selfReviews are what every authenticated user may ask about itself
// (upstream's system:basic-user role): who am I, may I, what may I.
var selfReviews = map[schema.GroupResource]bool{
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:      true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}: true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:  true,
}

func selfReview(u user.Info, info requestInfo) bool {
	return info.verb == "create" && selfReviews[schema.GroupResource{Group: info.gv.Group, Resource: info.resource}] && slices.Contains(u.GetGroups(), user.AllAuthenticated)
}

// attributesFor describes a resource request to authorizers. A list or
// watch narrowed to one object by a metadata.name field selector names
// that object, as kube-apiserver's request info does, so kubelets may
// watch the single secrets their pods use; the field selector itself is
// passed on too, as kube-apiserver does for authorizers that look at it.
func attributesFor(r *http.Request, u user.Info, info requestInfo) authorizer.AttributesRecord {
	name := info.name
	var selector fields.Requirements
	var selectorErr error
	if info.verb == "list" || info.verb == "watch" {
		if raw := r.URL.Query().Get("fieldSelector"); raw != "" {
			sel, err := fields.ParseSelector(raw)
			if err != nil {
				selectorErr = err
			} else {
				selector = sel.Requirements()
				if v, found := sel.RequiresExactMatch("metadata.name"); found && name == "" {
					name = v
				}
			}
		}
	}
	return authorizer.AttributesRecord{
		User:                      u,
		Verb:                      info.verb,
		Namespace:                 info.namespace,
		APIGroup:                  info.gv.Group,
		APIVersion:                info.gv.Version,
		Resource:                  info.resource,
		Subresource:               info.subresource,
		Name:                      name,
		ResourceRequest:           true,
		Path:                      r.URL.Path,
		FieldSelectorRequirements: selector,
		FieldSelectorParsingErr:   selectorErr,
	}
}

// forbidden is kube-apiserver's answer to a request the authorizers turned
// down, with the reason appended when there is one.
func forbidden(u user.Info, info requestInfo, reason string) error {
	resource := info.resource
	if info.subresource != "" {
		resource += "/" + info.subresource
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", u.GetName(), info.verb, resource, info.gv.Group)
	if info.namespace != "" {
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", u.GetName(), info.verb, resource, info.gv.Group, info.namespace)
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: info.gv.Group, Resource: info.resource}, info.name, fmt.Errorf("%s", msg))
}
