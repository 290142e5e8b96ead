package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/apis/authentication"
	"k8s.io/kubernetes/pkg/apis/authorization"
)

// serveReview answers the create-only resources that are computed, never
// stored: who am I, may I, and the bindings resource.
func (h *resourceHandler) serveReview(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if h.res.Kind == "Binding" {
		h.bind(w, r, info)
		return
	}
	obj, err := h.readInternal(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, _ := genericapirequest.UserFrom(r.Context())
	switch review := obj.(type) {
	case *authentication.SelfSubjectReview:
		review.Status.UserInfo = authentication.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
		for k, v := range u.GetExtra() {
			if review.Status.UserInfo.Extra == nil {
				review.Status.UserInfo.Extra = map[string]authentication.ExtraValue{}
			}
			review.Status.UserInfo.Extra[k] = v
		}
	case *authorization.SelfSubjectAccessReview:
		allowed := authorized(u, requestInfo{})
		review.Status = authorization.SubjectAccessReviewStatus{Allowed: allowed}
		if !allowed {
			review.Status.Reason = "no RBAC policy matched"
		}
	case *authorization.SelfSubjectRulesReview:
		if authorized(u, requestInfo{}) {
			review.Status.ResourceRules = []authorization.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
			review.Status.NonResourceRules = []authorization.NonResourceRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}
		}
	default:
		writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: h.res.Group, Resource: h.res.Resource}, "create"))
		return
	}
	h.writeResult(w, r, http.StatusCreated, obj)
}
