package kubelet

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// imageRef is an image reference split the way registries address it.
type imageRef struct {
	Host   string // docker.io for Docker Hub
	Path   string // library/busybox
	Tag    string
	Digest string
}

// parseImageRef splits a reference such as "busybox:1.36",
// "registry.local:5000/team/app@sha256:..." into its parts; a first
// component with a dot, a colon or "localhost" names a registry, anything
// else is on Docker Hub.
func parseImageRef(ref string) imageRef {
	var r imageRef
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		r.Digest = ref[i+1:]
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		r.Tag = ref[i+1:]
		ref = ref[:i]
	}
	first, rest, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.Host, r.Path = first, rest
	} else {
		r.Host, r.Path = "docker.io", ref
		if !strings.Contains(ref, "/") {
			r.Path = "library/" + ref
		}
	}
	return r
}

// defaultPullPolicy is the API server's defaulting rule: Always for
// ":latest" or no tag, IfNotPresent for a pinned tag or digest.
func defaultPullPolicy(image string) v1.PullPolicy {
	r := parseImageRef(image)
	if r.Digest != "" {
		return v1.PullIfNotPresent
	}
	if r.Tag == "" || r.Tag == "latest" {
		return v1.PullAlways
	}
	return v1.PullIfNotPresent
}

// pullPolicy is the container's policy, defaulted when unset.
func pullPolicy(c *v1.Container) v1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	return defaultPullPolicy(c.Image)
}
