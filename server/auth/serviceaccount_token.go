package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// ServiceAccountTokens signs and verifies service-account tokens: JWTs with
// upstream's claims, signed with the cluster's service-account key.
type ServiceAccountTokens struct {
	issuer    string
	audiences []string // the API's own audiences
	key       crypto.Signer
	alg       jose.SignatureAlgorithm
	keyID     string
	signer    jose.Signer
	now       func() time.Time
}

// IssuerURL is the issuer of a cluster's tokens, as k3s and kubeadm set
// --service-account-issuer.
func IssuerURL(clusterDomain string) string {
	return "https://kubernetes.default.svc." + clusterDomain
}

// NewServiceAccountTokens loads the signing key at keyFile. Tokens name
// issuer and are accepted by the API when they are for one of audiences
// (kube-apiserver's --api-audiences; the issuer when empty).
func NewServiceAccountTokens(keyFile, issuer string, audiences []string) (*ServiceAccountTokens, error) {
	key, err := readKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the service-account key: %w", err)
	}
	alg, err := signatureAlgorithm(key)
	if err != nil {
		return nil, err
	}
	kid, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("service-account token signer: %w", err)
	}
	if len(audiences) == 0 {
		audiences = []string{issuer}
	}
	return &ServiceAccountTokens{issuer: issuer, audiences: audiences, key: key, alg: alg, keyID: kid, signer: signer, now: time.Now}, nil
}

func signatureAlgorithm(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	case *rsa.PrivateKey:
		return jose.RS256, nil
	}
	return "", fmt.Errorf("service-account key of type %T cannot sign tokens", key)
}

// keyID names a public key as kube-apiserver does: the unpadded base64url
// SHA-256 of its PKIX encoding, so verifiers find it in the JWKS.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding the service-account public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Issuer is the iss claim of the tokens.
func (t *ServiceAccountTokens) Issuer() string { return t.issuer }

// APIAudiences are the audiences the API server accepts.
func (t *ServiceAccountTokens) APIAudiences() []string { return slices.Clone(t.audiences) }

// ObjectRef names a Kubernetes object in a token.
type ObjectRef struct {
	Name string    `json:"name,omitempty"`
	UID  types.UID `json:"uid,omitempty"`
}

// TokenBinding is the kubernetes.io claim: whose token it is and what it
// is bound to.
type TokenBinding struct {
	Namespace      string           `json:"namespace,omitempty"`
	ServiceAccount ObjectRef        `json:"serviceaccount"`
	Pod            *ObjectRef       `json:"pod,omitempty"`
	Secret         *ObjectRef       `json:"secret,omitempty"`
	Node           *ObjectRef       `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

type privateClaims struct {
	Kubernetes *TokenBinding `json:"kubernetes.io,omitempty"`
}

// TokenClaims are the claims of a verified (or to be issued) token.
type TokenClaims struct {
	Binding   TokenBinding
	Audiences []string
	ID        string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
}

// Subject is the sub claim: system:serviceaccount:<namespace>:<name>.
func (c *TokenClaims) Subject() string {
	return ServiceAccountUsername(c.Binding.Namespace, c.Binding.ServiceAccount.Name)
}

// ServiceAccountUsername is the user name of a service account.
func ServiceAccountUsername(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Issue signs a token for binding, for audiences, valid for validity from
// now; warnAfter, when set, is when clients should have replaced it (the
// kubelet's extended pod tokens). It returns the token and its claims.
func (t *ServiceAccountTokens) Issue(binding TokenBinding, audiences []string, validity, warnAfter time.Duration) (string, *TokenClaims, error) {
	now := t.now()
	claims := &TokenClaims{
		Binding:   binding,
		Audiences: audiences,
		ID:        string(uuid.NewUUID()),
		IssuedAt:  now,
		NotBefore: now,
		Expiry:    now.Add(validity),
	}
	if warnAfter > 0 {
		claims.Binding.WarnAfter = jwt.NewNumericDate(now.Add(warnAfter))
	}
	public := jwt.Claims{
		Issuer:    t.issuer,
		Subject:   claims.Subject(),
		Audience:  jwt.Audience(audiences),
		Expiry:    jwt.NewNumericDate(claims.Expiry),
		NotBefore: jwt.NewNumericDate(claims.NotBefore),
		IssuedAt:  jwt.NewNumericDate(claims.IssuedAt),
		ID:        claims.ID,
	}
	token, err := jwt.Signed(t.signer).Claims(public).Claims(privateClaims{Kubernetes: &claims.Binding}).Serialize()
	if err != nil {
		return "", nil, fmt.Errorf("signing service-account token: %w", err)
	}
	return token, claims, nil
}

// errNotOurs marks a token that is not a service-account token of this
// issuer, so other authenticators may try it.
var errNotOurs = errors.New("not a service-account token of this cluster")

// Verify checks the token's signature, issuer, validity period (with a
// minute's leeway for clock skew, as upstream) and that it is for one of
// the API's audiences; it does not look at the objects it names.
func (t *ServiceAccountTokens) Verify(token string) (*TokenClaims, error) {
	if strings.Count(token, ".") != 2 {
		return nil, errNotOurs
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{t.alg})
	if err != nil {
		return nil, errNotOurs
	}
	var unverified jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer != t.issuer {
		return nil, errNotOurs
	}
	var public jwt.Claims
	var private privateClaims
	if err := parsed.Claims(t.key.Public(), &public, &private); err != nil {
		return nil, fmt.Errorf("invalid service-account token signature: %w", err)
	}
	if err := public.ValidateWithLeeway(jwt.Expected{Issuer: t.issuer, AnyAudience: jwt.Audience(t.audiences), Time: t.now()}, jwt.DefaultLeeway); err != nil {
		return nil, fmt.Errorf("service-account token: %w", err)
	}
	b := private.Kubernetes
	if b == nil || b.Namespace == "" || b.ServiceAccount.Name == "" || b.ServiceAccount.UID == "" {
		return nil, errors.New("service-account token: the kubernetes.io claim does not name a service account")
	}
	if public.Subject != ServiceAccountUsername(b.Namespace, b.ServiceAccount.Name) {
		return nil, errors.New("service-account token: sub does not match the service account")
	}
	claims := &TokenClaims{Binding: *b, Audiences: public.Audience, ID: public.ID}
	if public.IssuedAt != nil {
		claims.IssuedAt = public.IssuedAt.Time()
	}
	if public.NotBefore != nil {
		claims.NotBefore = public.NotBefore.Time()
	}
	if public.Expiry != nil {
		claims.Expiry = public.Expiry.Time()
	}
	return claims, nil
}

// JWKS is the public key set served at /openid/v1/jwks.
func (t *ServiceAccountTokens) JWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: t.key.Public(), KeyID: t.keyID, Algorithm: string(t.alg), Use: "sig"}}}
	return json.Marshal(set)
}

// OpenIDConfiguration is the discovery document served at
// /.well-known/openid-configuration: the issuer and where its keys are.
func (t *ServiceAccountTokens) OpenIDConfiguration() ([]byte, error) {
	return json.Marshal(map[string]any{
		"issuer":                                t.issuer,
		"jwks_uri":                              t.issuer + "/openid/v1/jwks",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(t.alg)},
	})
}
