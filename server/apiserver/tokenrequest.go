package apiserver

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/apis/authentication"
	authenticationvalidation "k8s.io/kubernetes/pkg/apis/authentication/validation"
	api "k8s.io/kubernetes/pkg/apis/core"

	"kite/server/auth"
)

var tokenRequestGVK = schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}

// Pod tokens asked for with exactly this lifetime (the kubelet's default
// for kube-api-access volumes) are valid for a year but carry a warn-after
// at the requested time, as kube-apiserver's --service-account-extend-token-expiration
// does, so clients that do not refresh keep working while it is noticed.
const (
	warnOnlyBoundTokenSeconds = 3607
	extendedTokenSeconds      = 365 * 24 * 60 * 60
)

// requestToken serves serviceaccounts/<name>/token: it signs a token for
// the service account, bound to a pod, secret or node when asked, as
// kube-apiserver's TokenRequest does.
func (h *resourceHandler) requestToken(w http.ResponseWriter, r *http.Request, info requestInfo) {
	tokens := h.s.cfg.TokenIssuer
	if tokens == nil {
		writeError(w, r, apierrors.NewNotFound(h.groupResource(), info.name))
		return
	}
	req, err := h.readTokenRequest(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := h.s.issueToken(r, info, req, tokens)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeObject(w, r, http.StatusCreated, out, tokenRequestGVK.GroupVersion())
}

func (h *resourceHandler) readTokenRequest(r *http.Request) (*authentication.TokenRequest, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	versioned, err := h.decodeVersioned(r, body, "", tokenRequestGVK)
	if err != nil {
		return nil, err
	}
	scheme.Default(versioned)
	req := &authentication.TokenRequest{}
	if err := scheme.Convert(versioned, req, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return req, nil
}

func (s *Server) issueToken(r *http.Request, info requestInfo, req *authentication.TokenRequest, tokens *auth.ServiceAccountTokens) (*authentication.TokenRequest, error) {
	ctx := r.Context()
	gk := tokenRequestGVK.GroupKind()
	if req.Name != "" && req.Name != info.name {
		return nil, apierrors.NewInvalid(gk, info.name, field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != info.namespace {
		return nil, apierrors.NewInvalid(gk, info.name, field.ErrorList{field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	saObj, err := s.handlerFor(serviceAccountsGR).store.Cached(ctx, info.namespace, info.name)
	if err != nil {
		return nil, err
	}
	sa := saObj.(*api.ServiceAccount)
	if req.UID != "" && req.UID != sa.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: gk.Group, Resource: gk.Kind}, info.name, fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}
	now := time.Now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authentication.TokenRequestStatus{}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = tokens.APIAudiences()
	}
	if errs := authenticationvalidation.ValidateTokenRequest(req); len(errs) > 0 {
		return nil, apierrors.NewInvalid(gk, "", errs)
	}

	binding := auth.TokenBinding{Namespace: sa.Namespace, ServiceAccount: auth.ObjectRef{Name: sa.Name, UID: sa.UID}}
	var boundPod *api.Pod
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if boundPod, err = s.bindToken(r, info, sa, ref, &binding); err != nil {
			return nil, err
		}
	}
	if err := restrictNodeToken(r, boundPod); err != nil {
		return nil, err
	}

	validity := time.Duration(req.Spec.ExpirationSeconds) * time.Second
	var warnAfter time.Duration
	if boundPod != nil && req.Spec.ExpirationSeconds == warnOnlyBoundTokenSeconds && allIn(req.Spec.Audiences, tokens.APIAudiences()) {
		warnAfter, validity = validity, extendedTokenSeconds*time.Second
	}
	token, _, err := tokens.Issue(binding, req.Spec.Audiences, validity, warnAfter)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	out := req.DeepCopy()
	out.Name, out.Namespace = sa.Name, sa.Namespace
	out.Status = authentication.TokenRequestStatus{
		Token:               token,
		ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(req.Spec.ExpirationSeconds) * time.Second)),
	}
	return out, nil
}

// bindToken checks the object a token is to be bound to and records it in
// binding; for a pod, the pod is returned.
func (s *Server) bindToken(r *http.Request, info requestInfo, sa *api.ServiceAccount, ref *authentication.BoundObjectReference, binding *auth.TokenBinding) (*api.Pod, error) {
	ctx := r.Context()
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid string
	var pod *api.Pod
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		obj, err := s.handlerFor(podsGR).store.Cached(ctx, info.namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		pod = obj.(*api.Pod)
		if pod.Spec.ServiceAccountName != sa.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", sa.Name))
		}
		uid = string(pod.UID)
		binding.Pod = &auth.ObjectRef{Name: pod.Name, UID: pod.UID}
		if pod.Spec.NodeName != "" {
			binding.Node = &auth.ObjectRef{Name: pod.Spec.NodeName}
			node, err := s.handlerFor(nodesGR).store.Cached(ctx, "", pod.Spec.NodeName)
			switch {
			case err == nil:
				binding.Node.UID = node.(*api.Node).UID
			case !apierrors.IsNotFound(err):
				return nil, apierrors.NewInternalError(err)
			}
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		obj, err := s.handlerFor(nodesGR).store.Cached(ctx, "", ref.Name)
		if err != nil {
			return nil, err
		}
		node := obj.(*api.Node)
		uid = string(node.UID)
		binding.Node = &auth.ObjectRef{Name: node.Name, UID: node.UID}
	case gvk.Group == "" && gvk.Kind == "Secret":
		obj, err := s.handlerFor(secretsGR).store.Cached(ctx, info.namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		secret := obj.(*api.Secret)
		uid = string(secret.UID)
		binding.Secret = &auth.ObjectRef{Name: secret.Name, UID: secret.UID}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && string(ref.UID) != uid {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return pod, nil
}

// restrictNodeToken lets a node get tokens only bound to pods bound to it,
// as the NodeRestriction admission plugin does.
func restrictNodeToken(r *http.Request, pod *api.Pod) error {
	u, _ := genericapirequest.UserFrom(r.Context())
	node, isNode := auth.NodeIdentity(u)
	if !isNode {
		return nil
	}
	gr := schema.GroupResource{Resource: "serviceaccounts/token"}
	if pod == nil {
		return apierrors.NewForbidden(gr, "", fmt.Errorf("node requested token not bound to a pod"))
	}
	if pod.Spec.NodeName != node {
		return apierrors.NewForbidden(gr, "", fmt.Errorf("node requested token bound to a pod scheduled on a different node"))
	}
	return nil
}

func allIn(items, set []string) bool {
	for _, i := range items {
		if !slices.Contains(set, i) {
			return false
		}
	}
	return true
}
