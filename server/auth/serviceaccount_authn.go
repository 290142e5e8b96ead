package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Groups and extra keys of service-account users, as kube-apiserver sets.
const (
	ServiceAccountsGroup      = "system:serviceaccounts"
	ServiceAccountGroupPrefix = "system:serviceaccounts:"

	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// deletedPodGrace is how long a token bound to a pod outlives the pod's
// deletion, so a terminating pod can still finish its calls (upstream's).
const deletedPodGrace = 60 * time.Second

// ErrObjectNotFound is what an ObjectLookup returns for a missing object.
var ErrObjectNotFound = errors.New("not found")

// ObjectLookup finds the objects a token names; a cheap read of the API
// server's watch cache is enough.
type ObjectLookup interface {
	// LookupObject returns the UID of the object of kind (ServiceAccount,
	// Pod, Secret or Node) and when its deletion began (nil if it was not
	// deleted), or ErrObjectNotFound.
	LookupObject(ctx context.Context, kind, namespace, name string) (uid types.UID, deleting *time.Time, err error)
}

// IsNotServiceAccountToken reports whether Authenticate turned the token
// down only because it is not one of this cluster's service-account tokens.
func IsNotServiceAccountToken(err error) bool { return errors.Is(err, errNotOurs) }

// Authenticate verifies a bearer token and that the service account and
// the objects it is bound to still exist as they were when it was issued,
// and returns the service account's user.
func (t *ServiceAccountTokens) Authenticate(ctx context.Context, token string, lookup ObjectLookup) (user.Info, error) {
	claims, err := t.Verify(token)
	if err != nil {
		return nil, err
	}
	b := claims.Binding
	if err := checkBound(ctx, lookup, "ServiceAccount", b.Namespace, b.ServiceAccount, false); err != nil {
		return nil, err
	}
	extra := map[string][]string{}
	if claims.ID != "" {
		extra[ExtraCredentialID] = []string{"JTI=" + claims.ID}
	}
	switch {
	case b.Pod != nil:
		if err := checkBound(ctx, lookup, "Pod", b.Namespace, *b.Pod, true); err != nil {
			return nil, err
		}
		extra[ExtraPodName] = []string{b.Pod.Name}
		extra[ExtraPodUID] = []string{string(b.Pod.UID)}
	case b.Secret != nil:
		if err := checkBound(ctx, lookup, "Secret", b.Namespace, *b.Secret, false); err != nil {
			return nil, err
		}
	case b.Node != nil:
		if err := checkBound(ctx, lookup, "Node", "", *b.Node, false); err != nil {
			return nil, err
		}
	}
	if b.Node != nil {
		// The node of a pod-bound token is informative: the pod's
		// existence already ties the token to it.
		extra[ExtraNodeName] = []string{b.Node.Name}
		if b.Node.UID != "" {
			extra[ExtraNodeUID] = []string{string(b.Node.UID)}
		}
	}
	return &user.DefaultInfo{
		Name:   claims.Subject(),
		UID:    string(b.ServiceAccount.UID),
		Groups: []string{ServiceAccountsGroup, ServiceAccountGroupPrefix + b.Namespace, authenticatedGroup},
		Extra:  extra,
	}, nil
}

// checkBound confirms the object a token names exists with the UID it had.
func checkBound(ctx context.Context, lookup ObjectLookup, kind, namespace string, ref ObjectRef, allowRecentDelete bool) error {
	uid, deleting, err := lookup.LookupObject(ctx, kind, namespace, ref.Name)
	if errors.Is(err, ErrObjectNotFound) {
		return fmt.Errorf("%s %s/%s referenced by the token has been deleted", kind, namespace, ref.Name)
	}
	if err != nil {
		return fmt.Errorf("looking up %s %s/%s: %w", kind, namespace, ref.Name, err)
	}
	if ref.UID != "" && uid != ref.UID {
		return fmt.Errorf("%s %s/%s UID (%s) does not match the token's (%s)", kind, namespace, ref.Name, uid, ref.UID)
	}
	if deleting != nil && (!allowRecentDelete || time.Since(*deleting) > deletedPodGrace) {
		return fmt.Errorf("%s %s/%s referenced by the token is being deleted", kind, namespace, ref.Name)
	}
	return nil
}
