package apiserver

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"kite/server/registry"
)

// discovery holds the discovery documents, computed once from the registry:
// the served resources never change while the server runs.
type discoveryDocs struct {
	groups    []metav1.APIGroup                               // named groups in /apis order
	resources map[schema.GroupVersion]*metav1.APIResourceList // per group version
	legacy    apidiscoveryv2.APIGroupDiscoveryList            // aggregated /api
	named     apidiscoveryv2.APIGroupDiscoveryList            // aggregated /apis
}

func newDiscovery(resources []*registry.Resource) *discoveryDocs {
	d := &discoveryDocs{resources: map[schema.GroupVersion]*metav1.APIResourceList{}}
	aggregated := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	var groupOrder []string
	for _, r := range resources {
		list := d.resources[r.GroupVersion]
		if list == nil {
			list = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: r.GroupVersion.String()}
			d.resources[r.GroupVersion] = list
		}
		main := metav1.APIResource{
			Name: r.Resource, SingularName: r.SingularName, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: r.AllVerbs(), ShortNames: r.ShortNames, Categories: r.Categories,
		}
		if !r.Virtual {
			main.StorageVersionHash = storageVersionHash(r)
		}
		list.APIResources = append(list.APIResources, main)

		ag := aggregated[r.Group]
		if ag == nil {
			ag = &apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: r.Group}}
			aggregated[r.Group] = ag
			groupOrder = append(groupOrder, r.Group)
		}
		if len(ag.Versions) == 0 || ag.Versions[len(ag.Versions)-1].Version != r.Version {
			ag.Versions = append(ag.Versions, apidiscoveryv2.APIVersionDiscovery{Version: r.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent})
		}
		av := &ag.Versions[len(ag.Versions)-1]
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		ar := apidiscoveryv2.APIResourceDiscovery{
			Resource: r.Resource, SingularResource: r.SingularName, Scope: scope,
			ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
			Verbs:        r.AllVerbs(), ShortNames: r.ShortNames, Categories: r.Categories,
		}
		for _, sub := range subresourcesOf(r) {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: r.Resource + "/" + sub.name, Namespaced: r.Namespaced, Kind: sub.gvk.Kind,
				Group: sub.gvk.Group, Version: sub.gvk.Version, Verbs: sub.verbs,
			})
			ar.Subresources = append(ar.Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource:  sub.name,
				ResponseKind: &metav1.GroupVersionKind{Group: sub.gvk.Group, Version: sub.gvk.Version, Kind: sub.gvk.Kind},
				Verbs:        sub.verbs,
			})
		}
		av.Resources = append(av.Resources, ar)
	}
	for _, g := range groupOrder {
		ag := aggregated[g]
		for i := range ag.Versions {
			sort.Slice(ag.Versions[i].Resources, func(a, b int) bool {
				return ag.Versions[i].Resources[a].Resource < ag.Versions[i].Resources[b].Resource
			})
		}
		if g == "" {
			d.legacy.Items = append(d.legacy.Items, *ag)
			continue
		}
		d.named.Items = append(d.named.Items, *ag)
		group := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g}
		for _, v := range ag.Versions {
			gv := metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v.Version, Version: v.Version}
			group.Versions = append(group.Versions, gv)
		}
		group.PreferredVersion = group.Versions[0]
		d.groups = append(d.groups, group)
	}
	d.legacy.Kind, d.legacy.APIVersion = "APIGroupDiscoveryList", "apidiscovery.k8s.io/v2"
	d.named.Kind, d.named.APIVersion = "APIGroupDiscoveryList", "apidiscovery.k8s.io/v2"
	return d
}

// subresource describes one subresource for discovery.
type subresource struct {
	name  string
	gvk   schema.GroupVersionKind
	verbs []string
}

func subresourcesOf(r *registry.Resource) []subresource {
	var out []subresource
	if r.Status != nil {
		out = append(out, subresource{"status", r.GVK(), []string{"get", "patch", "update"}})
	}
	if r.Scale {
		out = append(out, subresource{"scale", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, []string{"get", "patch", "update"}})
	}
	for _, s := range r.Subresources {
		switch s {
		case "binding":
			out = append(out, subresource{s, schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, []string{"create"}})
		case "eviction":
			out = append(out, subresource{s, schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, []string{"create"}})
		case "finalize":
			out = append(out, subresource{s, r.GVK(), []string{"update"}})
		case "log":
			out = append(out, subresource{s, r.GVK(), []string{"get"}})
		case "exec", "attach", "portforward":
			out = append(out, subresource{s, connectOptionsKind[s], []string{"create", "get"}})
		case "proxy":
			out = append(out, subresource{s, connectOptionsKind[r.Resource+"/"+s], []string{"create", "delete", "get", "patch", "update"}})
		case "token":
			out = append(out, subresource{s, schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}, []string{"create"}})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].name < out[b].name })
	return out
}

// storageVersionHash is an opaque short hash of the storage version, which
// clients only compare for equality.
func storageVersionHash(r *registry.Resource) string {
	h := uint64(14695981039346656037)
	for _, c := range []byte(r.StorageVersion.String() + "/" + r.Kind) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b [11]byte
	for i := range b {
		b[i] = alphabet[h&63]
		h >>= 6
	}
	return string(b[:])
}

// aggregatedMediaType reports which aggregated discovery version the client
// accepts ("v2", "v2beta1") or "" for the legacy documents.
func aggregatedMediaType(r *http.Request) string {
	for _, clause := range strings.Split(r.Header.Get("Accept"), ",") {
		if !strings.Contains(clause, "g=apidiscovery.k8s.io") || !strings.Contains(clause, "as=APIGroupDiscoveryList") {
			continue
		}
		switch {
		case strings.Contains(clause, "v=v2beta1"):
			return "v2beta1"
		case strings.Contains(clause, "v=v2"):
			return "v2"
		}
	}
	return ""
}

func (d *discoveryDocs) writeAggregated(w http.ResponseWriter, version string, list *apidiscoveryv2.APIGroupDiscoveryList) {
	var body any = list
	if version == "v2beta1" {
		// v2beta1 has the same shape as v2; only the apiVersion differs.
		data, _ := json.Marshal(list)
		var old apidiscoveryv2beta1.APIGroupDiscoveryList
		_ = json.Unmarshal(data, &old)
		old.APIVersion = "apidiscovery.k8s.io/v2beta1"
		body = &old
	}
	w.Header().Set("Content-Type", "application/json;g=apidiscovery.k8s.io;v="+version+";as=APIGroupDiscoveryList")
	w.Header().Set("Vary", "Accept")
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if v := aggregatedMediaType(r); v != "" {
		s.discovery.writeAggregated(w, v, &s.discovery.legacy)
		return
	}
	writeObject(w, r, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.AdvertiseHostPort},
		},
	}, schema.GroupVersion{Version: "v1"})
}

func (s *Server) serveAPIs(w http.ResponseWriter, r *http.Request) {
	if v := aggregatedMediaType(r); v != "" {
		s.discovery.writeAggregated(w, v, &s.discovery.named)
		return
	}
	writeObject(w, r, http.StatusOK, &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: s.discovery.groups}, schema.GroupVersion{Version: "v1"})
}

// serveDiscoveryPath answers /apis/<group>, /apis/<group>/<version> and
// /api/v1; ok is false when the path is none of them.
func (s *Server) serveDiscoveryPath(w http.ResponseWriter, r *http.Request) bool {
	parts := splitPath(r.URL.Path)
	var gv schema.GroupVersion
	switch {
	case len(parts) == 2 && parts[0] == "api":
		gv = schema.GroupVersion{Version: parts[1]}
	case len(parts) == 2 && parts[0] == "apis":
		for i := range s.discovery.groups {
			if s.discovery.groups[i].Name == parts[1] {
				writeObject(w, r, http.StatusOK, &s.discovery.groups[i], schema.GroupVersion{Version: "v1"})
				return true
			}
		}
		return false
	case len(parts) == 3 && parts[0] == "apis":
		gv = schema.GroupVersion{Group: parts[1], Version: parts[2]}
	default:
		return false
	}
	list, ok := s.discovery.resources[gv]
	if !ok {
		return false
	}
	writeObject(w, r, http.StatusOK, list, schema.GroupVersion{Version: "v1"})
	return true
}
