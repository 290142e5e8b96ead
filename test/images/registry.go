package images

import (
	"context"
	"crypto/subtle"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryRealm is the realm of the Basic challenge the test registry sends.
const registryRealm = "kite-test-registry"

// StartRegistry serves an in-memory OCI registry over plain HTTP on
// 127.0.0.1 and a random port until the test ends, and returns its
// host:port. With a username, every request (the /v2/ ping included) needs
// those Basic credentials, and is otherwise refused with 401 and a Basic
// challenge, as a real registry does.
func StartRegistry(t testing.TB, username, password string) (host string) {
	return StartRegistryOn(t, "127.0.0.1", username, password)
}

// StartRegistryOn is StartRegistry on another address of this machine,
// such as a test bridge's, for nodes in network namespaces that cannot
// reach the host's loopback.
func StartRegistryOn(t testing.TB, address, username, password string) (host string) {
	t.Helper()
	handler := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if username != "" {
		handler = requireBasicAuth(handler, username, password)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(address, "0"))
	if err != nil {
		t.Fatalf("test registry: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}}
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func requireBasicAuth(next http.Handler, username, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		// Both comparisons always run, so timing does not tell which failed.
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(username)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(password)) == 1
		if !ok || !userOK || !passOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+registryRealm+`"`)
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`+"\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Push writes img to host/repoTag (for example "library/busybox:1.0") over
// plain HTTP, with Basic credentials when username is set, failing the test
// on error.
func Push(t testing.TB, host, repoTag string, img v1.Image, username, password string) {
	t.Helper()
	ref, err := name.ParseReference(host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatalf("push %s/%s: %v", host, repoTag, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.Write(ref, img, remote.WithAuth(registryAuth(username, password)), remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func registryAuth(username, password string) authn.Authenticator {
	if username == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: username, Password: password}
}
