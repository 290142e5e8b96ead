package volume

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxTokenAge is how long a token is used at most, whatever its expiry.
const maxTokenAge = 24 * time.Hour

// tokenCache keeps the service account tokens of projected volumes and
// fetches a new one when 80% of a token's lifetime has passed (or after a
// day), so pods always hold a token that has a good while left.
type tokenCache struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedToken
}

type cachedToken struct {
	tr      *authenticationv1.TokenRequest
	fetched time.Time
	podUID  types.UID
}

func newTokenCache(now func() time.Time) *tokenCache {
	return &tokenCache{now: now, entries: make(map[string]cachedToken)}
}

func tokenKey(ns, sa string, req *authenticationv1.TokenRequest) string {
	exp := int64(0)
	if req.Spec.ExpirationSeconds != nil {
		exp = *req.Spec.ExpirationSeconds
	}
	var ref string
	if b := req.Spec.BoundObjectRef; b != nil {
		ref = b.Kind + "/" + b.Name + "/" + string(b.UID)
	}
	return fmt.Sprintf("%s/%s|%s|%d|%s", ns, sa, strings.Join(req.Spec.Audiences, ","), exp, ref)
}

func (c *tokenCache) get(ctx context.Context, src Sources, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	key := tokenKey(ns, sa, req)
	c.mu.Lock()
	cached, ok := c.entries[key]
	c.mu.Unlock()
	now := c.now()
	if ok && !cached.needsRefresh(now) {
		return cached.tr, nil
	}

	tr, err := src.ServiceAccountToken(ctx, ns, sa, req)
	if err != nil {
		if ok && now.Before(cached.tr.Status.ExpirationTimestamp.Time) {
			// Keep serving a still valid token; the next sync retries.
			slog.WarnContext(ctx, "could not refresh service account token, keeping the current one",
				"component", "kubelet", "serviceAccount", ns+"/"+sa, "err", err)
			return cached.tr, nil
		}
		return nil, fmt.Errorf("failed to fetch token: %w", err)
	}
	if tr.Status.Token == "" {
		return nil, fmt.Errorf("failed to fetch token: service account %s/%s: empty token in response", ns, sa)
	}
	var podUID types.UID
	if req.Spec.BoundObjectRef != nil {
		podUID = req.Spec.BoundObjectRef.UID
	}
	c.mu.Lock()
	c.entries[key] = cachedToken{tr: tr, fetched: now, podUID: podUID}
	c.mu.Unlock()
	return tr, nil
}

// needsRefresh: past 80% of the lifetime (the shorter of what was asked for
// and what was granted: a server that extends tokens still wants them
// renewed on the asked-for schedule) or older than a day.
func (t cachedToken) needsRefresh(now time.Time) bool {
	age := now.Sub(t.fetched)
	if age >= maxTokenAge {
		return true
	}
	lifetime := t.tr.Status.ExpirationTimestamp.Sub(t.fetched)
	if s := t.tr.Spec.ExpirationSeconds; s != nil {
		if asked := time.Duration(*s) * time.Second; asked < lifetime {
			lifetime = asked
		}
	}
	return age >= lifetime*8/10
}

// forget drops the tokens bound to a pod.
func (c *tokenCache) forget(podUID types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.entries {
		if t.podUID == podUID {
			delete(c.entries, k)
		}
	}
}
