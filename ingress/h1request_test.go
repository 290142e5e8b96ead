package ingress

import (
	"net/http"
	"net/url"
	"testing"
)

// The origin-form fast path must read a target exactly as url's parser.
func TestRequestURLMatchesURLParser(t *testing.T) {
	for _, target := range []string{"/", "/a/b", "/a/b?x=1&y=%20", "/a?", "//double/slash", "/p;param", "/sp+ace/", "/%2Fenc/x",
		"/a%20b?q", "/frag#x", "*", "http://host.example/x?y", "/?"} {
		var own url.URL
		got, err := requestURL(&own, http.MethodGet, target)
		want, wantErr := url.ParseRequestURI(target)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: error %v, url's parser %v", target, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if *got != *want || got.EscapedPath() != want.EscapedPath() || got.RequestURI() != want.RequestURI() {
			t.Errorf("%q: got %#v, url's parser %#v", target, *got, *want)
		}
	}
}
