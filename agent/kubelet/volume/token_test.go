package volume

import (
	"context"
	"errors"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/utils/ptr"
)

func TestTokenCacheRefresh(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	src := newFakeSources()
	src.now = clock

	req := func(exp int64) *authenticationv1.TokenRequest {
		return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To(exp),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "p", UID: "uid-1"},
		}}
	}
	tests := []struct {
		name      string
		ttl       time.Duration // what the server grants
		asked     int64
		at        time.Duration // when the second get happens
		refreshed bool
	}{
		{name: "fresh", ttl: time.Hour, asked: 3600, at: 47 * time.Minute, refreshed: false},
		{name: "past 80%", ttl: time.Hour, asked: 3600, at: 49 * time.Minute, refreshed: true},
		{name: "extended token renews on the asked schedule", ttl: 365 * 24 * time.Hour, asked: 3607, at: 49 * time.Minute, refreshed: true},
		{name: "long token within a day", ttl: 72 * time.Hour, asked: 72 * 3600, at: 23 * time.Hour, refreshed: false},
		{name: "long token after a day", ttl: 72 * time.Hour, asked: 72 * 3600, at: 24 * time.Hour, refreshed: true},
		{name: "server shortened lifetime", ttl: 10 * time.Minute, asked: 3600, at: 9 * time.Minute, refreshed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = start
			src.tokenTTL = tt.ttl
			cache := newTokenCache(clock)
			first, err := cache.get(context.Background(), src, "ns", "sa", req(tt.asked))
			if err != nil {
				t.Fatal(err)
			}
			now = start.Add(tt.at)
			second, err := cache.get(context.Background(), src, "ns", "sa", req(tt.asked))
			if err != nil {
				t.Fatal(err)
			}
			if got := second.Status.Token != first.Status.Token; got != tt.refreshed {
				t.Errorf("refreshed = %v, want %v", got, tt.refreshed)
			}
		})
	}
}

func TestTokenCacheErrors(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	src := newFakeSources()
	src.now = clock
	cache := newTokenCache(clock)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](3600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "p", UID: "uid-1"},
	}}
	ctx := context.Background()

	src.tokenErr = errors.New("forbidden")
	if _, err := cache.get(ctx, src, "ns", "sa", req); err == nil || err.Error() != "failed to fetch token: forbidden" {
		t.Fatalf("error = %v", err)
	}
	src.tokenErr = nil
	first, err := cache.get(ctx, src, "ns", "sa", req)
	if err != nil {
		t.Fatal(err)
	}
	// Due for refresh but the server fails: the valid token is kept.
	now = start.Add(50 * time.Minute)
	src.tokenErr = errors.New("unavailable")
	got, err := cache.get(ctx, src, "ns", "sa", req)
	if err != nil || got.Status.Token != first.Status.Token {
		t.Fatalf("got %v, %v; want the cached token", got, err)
	}
	// Expired and the server fails: an error.
	now = start.Add(61 * time.Minute)
	if _, err := cache.get(ctx, src, "ns", "sa", req); err == nil {
		t.Fatal("expired token with failing server should be an error")
	}

	src.tokenErr = nil
	if _, err := cache.get(ctx, src, "ns", "sa", req); err != nil {
		t.Fatal(err)
	}
	cache.forget("uid-1")
	if len(cache.entries) != 0 {
		t.Errorf("entries after forget = %d", len(cache.entries))
	}
}
