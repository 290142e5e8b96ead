package deployment

import (
	"strings"
	"testing"
)

func TestReplicaSetName(t *testing.T) {
	for _, tc := range []struct{ deployment, hash, want string }{
		{"web", "69c6f74b8b", "web-69c6f74b8b"},
		{strings.Repeat("a", 253), "69c6f74b8b", strings.Repeat("a", 242) + "-69c6f74b8b"},
	} {
		if got := replicaSetName(tc.deployment, tc.hash); got != tc.want {
			t.Errorf("replicaSetName(%q) = %q, want %q", tc.deployment, got, tc.want)
		}
	}
}
