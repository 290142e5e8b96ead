package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestParseImageRef(t *testing.T) {
	tests := []struct {
		ref  string
		want imageRef
	}{
		{"busybox", imageRef{Host: "docker.io", Path: "library/busybox"}},
		{"busybox:1.36", imageRef{Host: "docker.io", Path: "library/busybox", Tag: "1.36"}},
		{"team/app:v2", imageRef{Host: "docker.io", Path: "team/app", Tag: "v2"}},
		{"registry.local:5000/team/app", imageRef{Host: "registry.local:5000", Path: "team/app"}},
		{"localhost/app:1", imageRef{Host: "localhost", Path: "app", Tag: "1"}},
		{"ghcr.io/o/app@sha256:abc", imageRef{Host: "ghcr.io", Path: "o/app", Digest: "sha256:abc"}},
		{"ghcr.io/o/app:1@sha256:abc", imageRef{Host: "ghcr.io", Path: "o/app", Tag: "1", Digest: "sha256:abc"}},
		{"kite.local/pause:3.10", imageRef{Host: "kite.local", Path: "pause", Tag: "3.10"}},
	}
	for _, tt := range tests {
		if got := parseImageRef(tt.ref); got != tt.want {
			t.Errorf("parseImageRef(%q) = %+v, want %+v", tt.ref, got, tt.want)
		}
	}
}

func TestPullPolicy(t *testing.T) {
	tests := []struct {
		image  string
		policy v1.PullPolicy
		want   v1.PullPolicy
	}{
		{"busybox", "", v1.PullAlways},
		{"busybox:latest", "", v1.PullAlways},
		{"busybox:1.36", "", v1.PullIfNotPresent},
		{"registry.local:5000/app", "", v1.PullAlways},
		{"app@sha256:abc", "", v1.PullIfNotPresent},
		{"busybox", v1.PullNever, v1.PullNever},
		{"busybox:1.36", v1.PullAlways, v1.PullAlways},
	}
	for _, tt := range tests {
		c := &v1.Container{Image: tt.image, ImagePullPolicy: tt.policy}
		if got := pullPolicy(c); got != tt.want {
			t.Errorf("pullPolicy(%q, %q) = %q, want %q", tt.image, tt.policy, got, tt.want)
		}
	}
}
