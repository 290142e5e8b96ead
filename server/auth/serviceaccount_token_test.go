package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"k8s.io/apimachinery/pkg/types"
)

func newTokens(t *testing.T) *ServiceAccountTokens {
	t.Helper()
	key := filepath.Join(t.TempDir(), "sa.key")
	if err := ensureServiceAccountKey(key); err != nil {
		t.Fatal(err)
	}
	tokens, err := NewServiceAccountTokens(key, IssuerURL("cluster.local"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// objects is an ObjectLookup over a fixed set: kind/namespace/name -> UID.
type objects map[string]types.UID

func (o objects) LookupObject(_ context.Context, kind, namespace, name string) (types.UID, *time.Time, error) {
	uid, ok := o[kind+"/"+namespace+"/"+name]
	if !ok {
		return "", nil, ErrObjectNotFound
	}
	return uid, nil, nil
}

func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServiceAccountTokenClaims(t *testing.T) {
	tokens := newTokens(t)
	binding := TokenBinding{
		Namespace:      "ns",
		ServiceAccount: ObjectRef{Name: "sa", UID: "sa-uid"},
		Pod:            &ObjectRef{Name: "p", UID: "pod-uid"},
		Node:           &ObjectRef{Name: "n", UID: "node-uid"},
	}
	token, claims, err := tokens.Issue(binding, []string{"https://kubernetes.default.svc.cluster.local"}, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := payload(t, token)
	if p["iss"] != "https://kubernetes.default.svc.cluster.local" || p["sub"] != "system:serviceaccount:ns:sa" || p["jti"] != claims.ID {
		t.Fatalf("public claims %v", p)
	}
	for _, c := range []string{"exp", "iat", "nbf"} {
		if _, ok := p[c].(float64); !ok {
			t.Fatalf("claim %s missing: %v", c, p)
		}
	}
	k := p["kubernetes.io"].(map[string]any)
	want := map[string]any{
		"namespace":      "ns",
		"serviceaccount": map[string]any{"name": "sa", "uid": "sa-uid"},
		"pod":            map[string]any{"name": "p", "uid": "pod-uid"},
		"node":           map[string]any{"name": "n", "uid": "node-uid"},
	}
	got, _ := json.Marshal(k)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("kubernetes.io claim %s, want %s", got, wantJSON)
	}

	u, err := tokens.Authenticate(context.Background(), token, objects{"ServiceAccount/ns/sa": "sa-uid", "Pod/ns/p": "pod-uid"})
	if err != nil {
		t.Fatal(err)
	}
	if u.GetName() != "system:serviceaccount:ns:sa" || u.GetUID() != "sa-uid" ||
		!slices.Equal(u.GetGroups(), []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"}) {
		t.Fatalf("user %+v", u)
	}
	extra := u.GetExtra()
	if extra[ExtraPodName][0] != "p" || extra[ExtraPodUID][0] != "pod-uid" || extra[ExtraNodeName][0] != "n" || extra[ExtraNodeUID][0] != "node-uid" || extra[ExtraCredentialID][0] != "JTI="+claims.ID {
		t.Fatalf("extra %v", extra)
	}
}

func TestServiceAccountTokenRefused(t *testing.T) {
	tokens := newTokens(t)
	other := newTokens(t)
	live := objects{"ServiceAccount/ns/sa": "sa-uid", "Pod/ns/p": "pod-uid"}
	sa := TokenBinding{Namespace: "ns", ServiceAccount: ObjectRef{Name: "sa", UID: "sa-uid"}}
	withPod := sa
	withPod.Pod = &ObjectRef{Name: "p", UID: "old-pod-uid"}
	apiAudience := []string{tokens.Issuer()}

	issue := func(t *testing.T, by *ServiceAccountTokens, b TokenBinding, aud []string, validity time.Duration) string {
		tok, _, err := by.Issue(b, aud, validity, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name    string
		token   func(t *testing.T) string
		objects objects
		want    string
	}{
		{"signed by another key", func(t *testing.T) string { return issue(t, other, sa, apiAudience, time.Hour) }, live, "signature"},
		{"expired", func(t *testing.T) string {
			old := tokens.now
			tokens.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
			defer func() { tokens.now = old }()
			return issue(t, tokens, sa, apiAudience, time.Hour)
		}, live, "expired"},
		{"for another audience", func(t *testing.T) string { return issue(t, tokens, sa, []string{"vault"}, time.Hour) }, live, "audience"},
		{"service account deleted", func(t *testing.T) string { return issue(t, tokens, sa, apiAudience, time.Hour) }, objects{}, "has been deleted"},
		{"service account recreated", func(t *testing.T) string { return issue(t, tokens, sa, apiAudience, time.Hour) }, objects{"ServiceAccount/ns/sa": "new-uid"}, "does not match"},
		{"pod recreated", func(t *testing.T) string { return issue(t, tokens, withPod, apiAudience, time.Hour) }, live, "Pod ns/p UID"},
		{"not a JWT", func(*testing.T) string { return "abc" }, live, "not a service-account token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tokens.Authenticate(context.Background(), tt.token(t), tt.objects)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Authenticate() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := tokens.Authenticate(context.Background(), "abc", live); !IsNotServiceAccountToken(err) {
		t.Fatalf("a non-JWT must be told apart: %v", err)
	}
}

func TestServiceAccountTokenDiscovery(t *testing.T) {
	tokens := newTokens(t)
	var cfg map[string]any
	data, err := tokens.OpenIDConfiguration()
	if err != nil || json.Unmarshal(data, &cfg) != nil {
		t.Fatalf("openid configuration %s: %v", data, err)
	}
	if cfg["issuer"] != tokens.Issuer() || cfg["jwks_uri"] != tokens.Issuer()+"/openid/v1/jwks" {
		t.Fatalf("openid configuration %v", cfg)
	}
	data, err = tokens.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", data, err)
	}
	// The published key verifies an issued token.
	token, _, err := tokens.Issue(TokenBinding{Namespace: "ns", ServiceAccount: ObjectRef{Name: "sa", UID: "u"}}, []string{"x"}, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if sig.Signatures[0].Header.KeyID != set.Keys[0].KeyID {
		t.Fatalf("token kid %q, JWKS kid %q", sig.Signatures[0].Header.KeyID, set.Keys[0].KeyID)
	}
	if _, err := sig.Verify(set.Keys[0].Key); err != nil {
		t.Fatalf("JWKS key does not verify the token: %v", err)
	}
}
