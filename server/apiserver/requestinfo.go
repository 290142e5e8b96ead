package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what a resource URL names.
type requestInfo struct {
	gv          schema.GroupVersion
	namespace   string
	resource    string
	name        string
	subresource string
	verb        string // get, list, watch, create, update, patch, delete, deletecollection
}

// parseResourcePath parses /api/v1/... and /apis/<group>/<version>/...
// paths; ok is false for anything that is not a resource URL.
func parseResourcePath(r *http.Request) (requestInfo, bool) {
	parts := splitPath(r.URL.Path)
	var info requestInfo
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.gv = schema.GroupVersion{Version: parts[1]}
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.gv = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return info, false
	}
	// namespaces/<ns>/<resource>/..., except a namespace's own URLs
	// (namespaces/<name>, namespaces/<name>/status|finalize).
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		info.namespace = parts[1]
		parts = parts[2:]
	}
	info.resource = parts[0]
	if len(parts) > 1 {
		info.name = parts[1]
	}
	if len(parts) > 2 {
		info.subresource = parts[2]
	}
	if len(parts) > 3 {
		return info, false
	}
	info.verb = verbFor(r, info)
	return info, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func verbFor(r *http.Request, info requestInfo) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if info.name == "" {
			if isTrue(r.URL.Query().Get("watch")) {
				return "watch"
			}
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if info.name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return ""
}

func isTrue(s string) bool { return s == "true" || s == "1" }
