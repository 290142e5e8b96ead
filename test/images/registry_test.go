package images

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestRegistryPushPull(t *testing.T) {
	img, err := BusyboxImage()
	if err != nil {
		t.Fatalf("BusyboxImage: %v", err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatalf("digest: %v", err)
	}

	type pull struct {
		name               string
		username, password string
		wantStatus         int // 0: the pull succeeds
	}
	tests := []struct {
		name               string
		username, password string
		pulls              []pull
	}{
		{
			name:  "anonymous",
			pulls: []pull{{name: "anonymous"}},
		},
		{
			name:     "basic auth",
			username: "alice",
			password: "s3cret",
			pulls: []pull{
				{name: "right credentials", username: "alice", password: "s3cret"},
				{name: "wrong password", username: "alice", password: "guess", wantStatus: http.StatusUnauthorized},
				{name: "wrong user", username: "bob", password: "s3cret", wantStatus: http.StatusUnauthorized},
				{name: "no credentials", wantStatus: http.StatusUnauthorized},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := StartRegistry(t, tt.username, tt.password)
			if !strings.HasPrefix(host, "127.0.0.1:") {
				t.Fatalf("registry at %s, want 127.0.0.1:<port>", host)
			}
			Push(t, host, "library/busybox:1.0", img, tt.username, tt.password)

			ref, err := name.ParseReference(host+"/library/busybox:1.0", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.pulls {
				t.Run(p.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					got, err := remote.Image(ref, remote.WithAuth(registryAuth(p.username, p.password)), remote.WithContext(ctx))
					if err == nil {
						// Fetch the blobs too, not only the manifest.
						var layerSize int64
						if layers, lerr := got.Layers(); lerr == nil && len(layers) == 1 {
							if rc, cerr := layers[0].Compressed(); cerr == nil {
								layerSize, err = io.Copy(io.Discard, rc)
								rc.Close()
							} else {
								err = cerr
							}
						} else if lerr != nil {
							err = lerr
						}
						if err == nil && layerSize == 0 {
							t.Fatalf("pulled an empty layer")
						}
					}
					if p.wantStatus == 0 {
						if err != nil {
							t.Fatalf("pull: %v", err)
						}
						if d, _ := got.Digest(); d != want {
							t.Fatalf("pulled %s, pushed %s", d, want)
						}
						return
					}
					var terr *transport.Error
					if !errors.As(err, &terr) || terr.StatusCode != p.wantStatus {
						t.Fatalf("pull error %v, want HTTP %d", err, p.wantStatus)
					}
				})
			}
		})
	}
}

// A client with no credentials (the /v2/ ping every client starts with, and
// any other request) gets what a real registry sends: 401 and a Basic
// challenge it can answer.
func TestRegistryChallengesUnauthenticated(t *testing.T) {
	host := StartRegistry(t, "alice", "s3cret")
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/v2/", "/v2/library/busybox/manifests/1.0"} {
		resp, err := client.Get("http://" + host + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s: %d, want 401", path, resp.StatusCode)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="kite-test-registry"` {
			t.Errorf("GET %s: WWW-Authenticate %q, want a Basic challenge", path, got)
		}
		if !strings.Contains(string(body), `"UNAUTHORIZED"`) {
			t.Errorf("GET %s: body %q lacks the UNAUTHORIZED error code", path, body)
		}
	}

	req, err := http.NewRequest(http.MethodGet, "http://"+host+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("alice", "s3cret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /v2/ with credentials: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ with credentials: %d, want 200", resp.StatusCode)
	}
}
