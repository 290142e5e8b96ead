package auth

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	api "k8s.io/kubernetes/pkg/apis/core"
)

// podsGraph answers from a fixed list of pods and claims, as the API
// server's watch cache would.
type podsGraph struct {
	pods   []*api.Pod
	claims map[string]string // namespace/name -> volume name
}

func (g podsGraph) PodsOnNode(_ context.Context, node, namespace string) ([]*api.Pod, error) {
	var out []*api.Pod
	for _, p := range g.pods {
		if p.Spec.NodeName == node && (namespace == "" || p.Namespace == namespace) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (g podsGraph) PodNodeName(_ context.Context, namespace, name string) (string, error) {
	for _, p := range g.pods {
		if p.Namespace == namespace && p.Name == name {
			return p.Spec.NodeName, nil
		}
	}
	return "", ErrObjectNotFound
}

func (g podsGraph) ClaimVolumeName(_ context.Context, namespace, name string) (string, error) {
	v, ok := g.claims[namespace+"/"+name]
	if !ok {
		return "", ErrObjectNotFound
	}
	return v, nil
}

func testGraph() podsGraph {
	web := &api.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: api.PodSpec{
			NodeName:           "a",
			ServiceAccountName: "web-sa",
			ImagePullSecrets:   []api.LocalObjectReference{{Name: "pull"}},
			Volumes: []api.Volume{
				{Name: "cert", VolumeSource: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "tls"}}},
				{Name: "data", VolumeSource: api.VolumeSource{PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "proj", VolumeSource: api.VolumeSource{Projected: &api.ProjectedVolumeSource{Sources: []api.VolumeProjection{{ConfigMap: &api.ConfigMapProjection{LocalObjectReference: api.LocalObjectReference{Name: "kube-root-ca.crt"}}}}}}},
			},
			Containers: []api.Container{{Name: "c", EnvFrom: []api.EnvFromSource{{ConfigMapRef: &api.ConfigMapEnvSource{LocalObjectReference: api.LocalObjectReference{Name: "settings"}}}}}},
		},
	}
	other := &api.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
		Spec: api.PodSpec{
			NodeName:           "b",
			ServiceAccountName: "db-sa",
			Containers:         []api.Container{{Name: "c", Env: []api.EnvVar{{Name: "P", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{LocalObjectReference: api.LocalObjectReference{Name: "db-password"}, Key: "p"}}}}}},
		},
	}
	return podsGraph{pods: []*api.Pod{web, other}, claims: map[string]string{"ns/data": "pv-1"}}
}

// withFields adds a field selector to a list or watch.
func withFields(a authorizer.AttributesRecord, selector string) authorizer.AttributesRecord {
	a.FieldSelectorRequirements, a.FieldSelectorParsingErr = fields.ParseSelectorOrDie(selector).Requirements(), nil
	return a
}

func TestNodeAuthorizer(t *testing.T) {
	nodeA := &user.DefaultInfo{Name: "system:node:a", Groups: []string{"system:nodes", "system:authenticated"}}
	res := func(verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: nodeA, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name, ResourceRequest: true}
	}
	tests := []struct {
		name   string
		attrs  authorizer.AttributesRecord
		allow  bool
		reason string
	}{
		{"list all nodes", res("list", "", "nodes", "", "", ""), true, ""},
		{"register itself", res("create", "", "nodes", "", "", ""), true, ""},
		{"patch own node", res("patch", "", "nodes", "", "", "a"), true, ""},
		{"update own node status", res("update", "", "nodes", "status", "", "a"), true, ""},
		{"patch another node", res("patch", "", "nodes", "", "", "b"), false, "node 'a' cannot modify node 'b'"},
		{"patch another node's status", res("patch", "", "nodes", "status", "", "b"), false, "node 'a' cannot modify node 'b'"},
		{"delete another node", res("delete", "", "nodes", "", "", "b"), false, "node 'a' cannot modify node 'b'"},
		{"proxy to a node", res("get", "", "nodes", "proxy", "", "a"), false, ""},
		{"watch all pods", res("watch", "", "pods", "", "", ""), true, ""},
		{"update status of own pod", res("update", "", "pods", "status", "ns", "web"), true, ""},
		{"update status of another node's pod", res("patch", "", "pods", "status", "ns", "db"), false, "node 'a' can only patch pods with spec.nodeName set to itself"},
		{"delete own pod", res("delete", "", "pods", "", "ns", "web"), true, ""},
		{"delete another node's pod", res("delete", "", "pods", "", "ns", "db"), false, "spec.nodeName set to itself"},
		{"delete a pod that is gone (the delete answers 404)", res("delete", "", "pods", "", "ns", "gone"), true, ""},
		{"evict own pod", res("create", "", "pods", "eviction", "ns", "web"), true, ""},
		{"exec into a pod", res("create", "", "pods", "exec", "ns", "web"), false, ""},
		{"create pods", res("create", "", "pods", "", "ns", ""), true, ""},
		{"get secret of own pod volume", res("get", "", "secrets", "", "ns", "tls"), true, ""},
		{"watch one image pull secret", res("watch", "", "secrets", "", "ns", "pull"), true, ""},
		{"get secret of another node's pod", res("get", "", "secrets", "", "ns", "db-password"), false, "no relationship found between node 'a' and this object"},
		{"list all secrets", res("list", "", "secrets", "", "ns", ""), false, "can only get individual resources of this type"},
		{"update a used secret", res("update", "", "secrets", "", "ns", "tls"), false, "can only read resources of this type"},
		{"watch all TLS secrets (ingress)", withFields(res("watch", "", "secrets", "", "", ""), "type=kubernetes.io/tls"), true, ""},
		{"list TLS secrets of a namespace", withFields(res("list", "", "secrets", "", "ns", ""), "type==kubernetes.io/tls"), true, ""},
		{"list opaque secrets", withFields(res("list", "", "secrets", "", "", ""), "type=Opaque"), false, "can only get individual resources of this type"},
		{"list all but TLS secrets", withFields(res("list", "", "secrets", "", "", ""), "type!=kubernetes.io/tls"), false, "can only get individual resources of this type"},
		{"get a TLS-typed selector is no list", withFields(res("get", "", "secrets", "", "ns", "db-password"), "type=kubernetes.io/tls"), false, "no relationship found between node 'a' and this object"},
		{"watch ingresses", res("watch", "networking.k8s.io", "ingresses", "", "", ""), true, ""},
		{"list ingress classes", res("list", "networking.k8s.io", "ingressclasses", "", "", ""), true, ""},
		{"update an ingress", res("update", "networking.k8s.io", "ingresses", "", "ns", "web"), false, ""},
		{"get configmap of projected volume", res("get", "", "configmaps", "", "ns", "kube-root-ca.crt"), true, ""},
		{"get configmap of envFrom", res("get", "", "configmaps", "", "ns", "settings"), true, ""},
		{"get configmap of another namespace", res("get", "", "configmaps", "", "other", "settings"), false, "no relationship"},
		{"get used claim", res("get", "", "persistentvolumeclaims", "", "ns", "data"), true, ""},
		{"get used volume", res("get", "", "persistentvolumes", "", "", "pv-1"), true, ""},
		{"get unused volume", res("get", "", "persistentvolumes", "", "", "pv-2"), false, "no relationship"},
		{"token of own pod's service account", res("create", "", "serviceaccounts", "token", "ns", "web-sa"), true, ""},
		{"token of another node's service account", res("create", "", "serviceaccounts", "token", "ns", "db-sa"), false, "no relationship"},
		{"get a service account", res("get", "", "serviceaccounts", "", "ns", "web-sa"), false, "can only create tokens"},
		{"own lease", res("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "a"), true, ""},
		{"create a lease", res("create", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), true, ""},
		{"another node's lease", res("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "b"), false, "can only access node lease with the same name as the requesting node"},
		{"leader election lease", res("get", "coordination.k8s.io", "leases", "", "kube-system", "kube-scheduler"), false, `can only access leases in the "kube-node-lease" system namespace`},
		{"watch services", res("watch", "", "services", "", "", ""), true, ""},
		{"list endpointslices", res("list", "discovery.k8s.io", "endpointslices", "", "", ""), true, ""},
		{"watch namespaces, for the node's DNS", res("watch", "", "namespaces", "", "", ""), true, ""},
		{"no namespace writes", res("delete", "", "namespaces", "", "e2e", ""), false, ""},
		{"create events", res("create", "events.k8s.io", "events", "", "ns", ""), true, ""},
		{"create CSR", res("create", "certificates.k8s.io", "certificatesigningrequests", "", "", ""), true, ""},
		{"delete a service", res("delete", "", "services", "", "ns", "web"), false, ""},
		{"list deployments", res("list", "apps", "deployments", "", "", ""), false, ""},
		{"discovery", authorizer.AttributesRecord{User: nodeA, Verb: "get", Path: "/apis/apps/v1"}, true, ""},
		{"metrics", authorizer.AttributesRecord{User: nodeA, Verb: "get", Path: "/metrics"}, false, ""},
	}
	a := NewNodeAuthorizer(testGraph())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decision, reason, err := a.Authorize(context.Background(), tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if (decision == authorizer.DecisionAllow) != tt.allow {
				t.Fatalf("decision %v (%q), want allow=%v", decision, reason, tt.allow)
			}
			if !tt.allow && tt.reason != "" && !strings.Contains(reason, tt.reason) {
				t.Fatalf("reason %q, want it to contain %q", reason, tt.reason)
			}
		})
	}
}

func TestNodeAuthorizerIgnoresOtherUsers(t *testing.T) {
	a := NewNodeAuthorizer(testGraph())
	for _, u := range []user.Info{
		&user.DefaultInfo{Name: "system:admin", Groups: []string{"system:masters"}},
		// A node name without the group, or the group with another name.
		&user.DefaultInfo{Name: "system:node:a", Groups: []string{"system:authenticated"}},
		&user.DefaultInfo{Name: "alice", Groups: []string{"system:nodes"}},
	} {
		d, _, err := a.Authorize(context.Background(), authorizer.AttributesRecord{User: u, Verb: "get", Resource: "secrets", Namespace: "ns", Name: "tls", ResourceRequest: true})
		if err != nil || d != authorizer.DecisionNoOpinion {
			t.Errorf("user %s: decision %v, %v; want no opinion", u.GetName(), d, err)
		}
	}
	d, reason, _ := a.Authorize(context.Background(), authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "system:node:", Groups: []string{"system:nodes"}}, Verb: "get", Resource: "nodes", ResourceRequest: true})
	if d == authorizer.DecisionAllow || reason != `unknown node for user "system:node:"` {
		t.Errorf("nameless node: %v %q", d, reason)
	}
}
