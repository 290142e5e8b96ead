// Package registry declares every resource the API server serves: one entry
// per resource with its names, scope, strategies (defaulting, validation and
// the spec/status split, reused from upstream's registry strategies so the
// rules match kube-apiserver's) and field selectors. Adding a resource means
// adding one entry to All.
package registry

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// Strategy is what upstream's per-resource strategies implement for the main
// resource: create, update and delete rules.
type Strategy interface {
	rest.RESTCreateStrategy
	rest.RESTUpdateStrategy
}

// Resource is one served resource at one group/version.
type Resource struct {
	schema.GroupVersion
	Kind         string
	Resource     string // plural, lower-case: "pods"
	SingularName string
	ShortNames   []string
	Categories   []string
	Namespaced   bool

	// StorageResource names the etcd key prefix (/registry/<StorageResource>/);
	// two versions of one kind (core/v1 and events.k8s.io/v1 Events) share it.
	StorageResource string
	// StorageVersion is the version objects are encoded in inside etcd.
	StorageVersion schema.GroupVersion

	Strategy Strategy
	// Status is the strategy of the status subresource, nil if there is none.
	Status rest.RESTUpdateStrategy
	// Scale marks resources with a scale subresource (spec.replicas).
	Scale bool
	// Subresources are extra subresources handled by the API server itself
	// ("binding", "eviction", "finalize"), besides status and scale.
	Subresources []string
	// Attrs returns the labels and the selectable fields of an internal
	// object; nil means metadata.name and metadata.namespace only.
	Attrs func(runtime.Object) (labels.Set, fields.Set, error)
	// Verbs overrides the standard verbs (for create-only resources).
	Verbs []string
	// Virtual resources (reviews) are never stored.
	Virtual bool
	// ReturnDeletedObject answers a delete with the object rather than a
	// Success Status, per resource as kube-apiserver does.
	ReturnDeletedObject bool
}

// StandardVerbs are the verbs of an ordinary stored resource.
var StandardVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// GVK is the served group/version/kind.
func (r *Resource) GVK() schema.GroupVersionKind { return r.GroupVersion.WithKind(r.Kind) }

// GVR is the served group/version/resource.
func (r *Resource) GVR() schema.GroupVersionResource { return r.GroupVersion.WithResource(r.Resource) }

// InternalGVK is the kind of the internal type the server works on.
func (r *Resource) InternalGVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: runtime.APIVersionInternal, Kind: r.Kind}
}

// New returns an empty internal object of this resource.
func (r *Resource) New() runtime.Object {
	obj, err := legacyscheme.Scheme.New(r.InternalGVK())
	if err != nil {
		panic(err) // the registry table is static; a bad entry is a programming error
	}
	return obj
}

// NewList returns an empty internal list of this resource.
func (r *Resource) NewList() runtime.Object {
	gvk := r.InternalGVK()
	gvk.Kind += "List"
	obj, err := legacyscheme.Scheme.New(gvk)
	if err != nil {
		panic(err)
	}
	return obj
}

// AllVerbs returns the verbs the resource supports.
func (r *Resource) AllVerbs() []string {
	if r.Verbs != nil {
		return r.Verbs
	}
	return StandardVerbs
}

// HasSubresource reports whether name is a subresource of r.
func (r *Resource) HasSubresource(name string) bool {
	switch name {
	case "status":
		return r.Status != nil
	case "scale":
		return r.Scale
	}
	for _, s := range r.Subresources {
		if s == name {
			return true
		}
	}
	return false
}
