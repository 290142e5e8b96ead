package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// samples holds one object of each kind the get/describe checks cover.
// __NS__ is the client's namespace; cluster-scoped names end in __SFX__ so
// the clients running side by side do not collide.
const samples = `
apiVersion: v1
kind: Node
metadata:
  name: node-__SFX__
  labels: {e2e: "__SFX__"}
---
apiVersion: v1
kind: Pod
metadata: {name: pod-a, namespace: __NS__, labels: {app: sample}}
spec:
  nodeName: node-__SFX__
  containers:
  - {name: main, image: "registry.local/busybox:1.36"}
---
apiVersion: v1
kind: Service
metadata: {name: svc-a, namespace: __NS__}
spec:
  selector: {app: sample}
  ports:
  - {port: 80, targetPort: 8080, protocol: TCP}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: deploy-a, namespace: __NS__}
spec:
  replicas: 2
  selector: {matchLabels: {app: deploy-a}}
  template:
    metadata: {labels: {app: deploy-a}}
    spec:
      containers:
      - {name: main, image: "registry.local/busybox:1.36"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-a, namespace: __NS__}
data: {a: "1", b: "2"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cr-__SFX__}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing-a, namespace: __NS__}
spec:
  rules:
  - host: a.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: svc-a, port: {number: 80}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: job-a, namespace: __NS__}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: "registry.local/busybox:1.36"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj-a, namespace: __NS__}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: main, image: "registry.local/busybox:1.36"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sts-a, namespace: __NS__}
spec:
  serviceName: svc-a
  replicas: 1
  selector: {matchLabels: {app: sts-a}}
  template:
    metadata: {labels: {app: sts-a}}
    spec:
      containers:
      - {name: main, image: "registry.local/busybox:1.36"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds-a, namespace: __NS__}
spec:
  selector: {matchLabels: {app: ds-a}}
  template:
    metadata: {labels: {app: ds-a}}
    spec:
      containers:
      - {name: main, image: "registry.local/busybox:1.36"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pvc-a, namespace: __NS__}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: sc-__SFX__
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-__SFX__}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: sc-__SFX__
  hostPath: {path: /tmp/pv-__SFX__}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: sc-__SFX__}
provisioner: example.test/none
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: lease-a, namespace: __NS__}
spec: {holderIdentity: holder-1, leaseDurationSeconds: 15}
---
apiVersion: v1
kind: Event
metadata: {name: ev-a, namespace: __NS__}
involvedObject: {kind: Pod, name: pod-a, namespace: __NS__, apiVersion: v1}
reason: Tested
message: e2e event
type: Normal
source: {component: e2e}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: es-a
  namespace: __NS__
  labels: {kubernetes.io/service-name: svc-a}
addressType: IPv4
endpoints:
- addresses: [10.42.0.5]
ports:
- {name: http, port: 8080, protocol: TCP}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np-a, namespace: __NS__}
spec:
  podSelector: {matchLabels: {app: sample}}
  policyTypes: [Ingress]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb-a, namespace: __NS__}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: sample}}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: pc-__SFX__}
value: 1000
description: e2e
`

// sampleKinds drives the get and describe checks: the header kube-apiserver
// v1.37 prints for the resource and the leading cells of the sample's row.
var sampleKinds = []struct {
	resource   string
	name       string // __SFX__ is expanded
	namespaced bool
	header     []string
	row        []string // "*" matches anything; __NS__ and __SFX__ expanded
}{
	{"pods", "pod-a", true, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, []string{"pod-a", "0/1", "Pending", "0"}},
	{"services", "svc-a", true, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, []string{"svc-a", "ClusterIP", "*", "<none>", "80/TCP"}},
	{"deployments", "deploy-a", true, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, []string{"deploy-a", "0/2", "*", "0"}}, // UP-TO-DATE: as far as the controllers got
	{"configmaps", "cm-a", true, []string{"NAME", "DATA", "AGE"}, []string{"cm-a", "2"}},
	{"namespaces", "__NS__", false, []string{"NAME", "STATUS", "AGE"}, []string{"__NS__", "Active"}},
	{"nodes", "node-__SFX__", false, []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}, []string{"node-__SFX__", "Unknown", "<none>"}},
	{"clusterroles", "cr-__SFX__", false, []string{"NAME", "CREATED AT"}, []string{"cr-__SFX__"}},
	{"ingresses", "ing-a", true, []string{"NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"}, []string{"ing-a", "<none>", "a.example.test"}},
	{"jobs", "job-a", true, []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"}, []string{"job-a"}},
	{"cronjobs", "cj-a", true, []string{"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"}, []string{"cj-a", "*/5 * * * *", "<none>", "False", "0", "<none>"}},
	{"statefulsets", "sts-a", true, []string{"NAME", "READY", "AGE"}, []string{"sts-a", "0/1"}},
	{"daemonsets", "ds-a", true, []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"}, []string{"ds-a", "*", "*", "0", "*", "0", "<none>"}}, // one pod per (simulated) node, never ready
	{"persistentvolumeclaims", "pvc-a", true, []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"}, []string{"pvc-a", "*"}},   // Bound once the persistentvolume controller gets to it
	{"persistentvolumes", "pv-__SFX__", false, []string{"NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"}, []string{"pv-__SFX__", "1Gi", "RWO", "Retain"}},
	{"storageclasses", "sc-__SFX__", false, []string{"NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"}, []string{"sc-__SFX__", "example.test/none", "Delete", "Immediate", "false"}},
	{"leases", "lease-a", true, []string{"NAME", "HOLDER", "AGE"}, []string{"lease-a", "holder-1"}},
	{"events", "ev-a", true, []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}, []string{"*", "Normal", "Tested", "pod/pod-a", "e2e event"}},
	{"endpointslices", "es-a", true, []string{"NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"}, []string{"es-a", "IPv4", "8080", "10.42.0.5"}},
	{"networkpolicies", "np-a", true, []string{"NAME", "POD-SELECTOR", "AGE"}, []string{"np-a", "app=sample"}},
	{"poddisruptionbudgets", "pdb-a", true, []string{"NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"}, []string{"pdb-a", "1", "N/A", "0"}},
	{"priorityclasses", "pc-__SFX__", false, []string{"NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"}, []string{"pc-__SFX__", "1000", "false"}},
}

// kubectlStep is one named check; steps run in order and may build on the
// objects earlier steps made.
type kubectlStep struct {
	name string
	fn   func(t *testing.T, k kubectl, ns string)
}

var kubectlSteps = []kubectlStep{
	{"create", stepCreate},
	{"apply-samples", stepApplySamples},
	{"get-columns", stepGetColumns},
	{"describe", stepDescribe},
	{"get-wide", stepGetWide},
	{"output-formats", stepOutputFormats},
	{"selectors", stepSelectors},
	{"all-namespaces", stepAllNamespaces},
	{"watch", stepWatch},
	{"chunk-size", stepChunkSize},
	{"apply-multidoc-and-diff", stepApplyMultiDoc},
	{"apply-server-side-create", stepServerSideApplyCreate},
	{"apply-server-side", stepServerSideApply},
	{"replace", stepReplace},
	{"edit", stepEdit},
	{"patch", stepPatch},
	{"label-annotate", stepLabelAnnotate},
	{"scale", stepScale},
	{"delete", stepDelete},
	{"delete-force", stepDeleteForce},
	{"delete-cascade", stepDeleteCascade},
	{"delete-namespace", stepDeleteNamespace},
	{"dry-run-server", stepDryRunServer},
	{"explain", stepExplain},
	{"api-resources", stepAPIResources},
	{"api-versions", stepAPIVersions},
	{"version", stepVersion},
	{"auth-whoami", stepAuthWhoami},
	{"raw-readyz", stepRawReadyz},
}

// TestKubectl runs the command list with the bundled kubectl and with an
// independent upstream kubectl 1.33, each in its own namespace of the
// shared server.
func TestKubectl(t *testing.T) {
	t.Parallel()
	s := shared(t)
	clients := []kubectl{bundledKubectl(t, s)}
	if k, ok := upstream(t, s, "1.33"); ok {
		clients = append(clients, k)
	} else {
		t.Logf("%s1.33 not installed; only the bundled kubectl runs", upstreamKubectl)
	}
	for _, k := range clients {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			ns := "e2e-" + strings.ReplaceAll(k.name, ".", "")
			for _, step := range kubectlSteps {
				t.Run(step.name, func(t *testing.T) { step.fn(t, k, ns) })
				if step.name == "create" && k.run(t, "get", "namespace", ns).code != 0 {
					t.Fatal("cannot go on without the namespace")
				}
			}
		})
	}
}

// TestKubectlOldClient runs a few read commands with kubectl 1.27, the
// oldest release installed.
func TestKubectlOldClient(t *testing.T) {
	s := shared(t)
	k, ok := upstream(t, s, "1.27")
	if !ok {
		t.Skipf("%s1.27 not installed", upstreamKubectl)
	}
	ns := "e2e-old"
	wantLines(t, "create namespace", k.ok(t, "create", "namespace", ns), "namespace/"+ns+" created")
	k.ok(t, "-n", ns, "create", "deployment", "old", "--image=registry.local/old:1.0")
	k.ok(t, "-n", ns, "create", "configmap", "old", "--from-literal=k=v")

	checkTable(t, "get ns", k.ok(t, "get", "ns"), []string{"NAME", "STATUS", "AGE"}, []string{ns, "Active"})
	checkTable(t, "get deploy", k.ok(t, "-n", ns, "get", "deploy"), []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, []string{"old", "0/1", "*", "0"})
	cm := k.getJSON(t, "-n", ns, "get", "cm", "old")
	wantEqual(t, "configmap data", fmt.Sprint(cm["data"]), "map[k:v]")
	wantEqual(t, "jsonpath", k.jsonpath(t, "{.spec.template.spec.containers[0].image}", "-n", ns, "get", "deploy", "old"), "registry.local/old:1.0")
	v := k.getJSON(t, "version")
	sv, _ := v["serverVersion"].(map[string]any)
	wantEqual(t, "serverVersion.gitVersion", fmt.Sprint(sv["gitVersion"]), kiteVersion)
	res := k.ok(t, "api-resources")
	if !hasAPIResource(res, "deployments", "deploy", "apps/v1", "true", "Deployment") {
		t.Errorf("api-resources: no deployments row:\n%s", res)
	}
	wantContains(t, "explain", k.ok(t, "explain", "pod.spec.containers"), "containers", "<[]Container>")
}

func stepCreate(t *testing.T, k kubectl, ns string) {
	wantLines(t, "create namespace", k.ok(t, "create", "namespace", ns), "namespace/"+ns+" created")
	wantLines(t, "create configmap", k.ok(t, "-n", ns, "create", "configmap", "lit", "--from-literal=greeting=hello"), "configmap/lit created")
	wantEqual(t, "configmap data", k.jsonpath(t, "{.data.greeting}", "-n", ns, "get", "cm", "lit"), "hello")
	wantLines(t, "create deployment", k.ok(t, "-n", ns, "create", "deployment", "web", "--image=registry.local/web:1.0"), "deployment.apps/web created")
	wantEqual(t, "deployment image", k.jsonpath(t, "{.spec.template.spec.containers[*].image}", "-n", ns, "get", "deploy", "web"), "registry.local/web:1.0")
	wantEqual(t, "deployment replicas", k.jsonpath(t, "{.spec.replicas}", "-n", ns, "get", "deploy", "web"), "1")
	r := k.fails(t, "-n", ns, "create", "configmap", "lit", "--from-literal=greeting=again")
	wantContains(t, "create existing", r.stderr, `configmaps "lit" already exists`)
}

func stepApplySamples(t *testing.T, k kubectl, ns string) {
	out := k.okStdin(t, expand(samples, ns, k.name), "apply", "-f", "-")
	sfx := k.name
	wantExactLines(t, "apply samples", out,
		"node/node-"+sfx+" created",
		"pod/pod-a created",
		"service/svc-a created",
		"deployment.apps/deploy-a created",
		"configmap/cm-a created",
		"clusterrole.rbac.authorization.k8s.io/cr-"+sfx+" created",
		"ingress.networking.k8s.io/ing-a created",
		"job.batch/job-a created",
		"cronjob.batch/cj-a created",
		"statefulset.apps/sts-a created",
		"daemonset.apps/ds-a created",
		"persistentvolumeclaim/pvc-a created",
		"persistentvolume/pv-"+sfx+" created",
		"storageclass.storage.k8s.io/sc-"+sfx+" created",
		"lease.coordination.k8s.io/lease-a created",
		"event/ev-a created",
		"endpointslice.discovery.k8s.io/es-a created",
		"networkpolicy.networking.k8s.io/np-a created",
		"poddisruptionbudget.policy/pdb-a created",
		"priorityclass.scheduling.k8s.io/pc-"+sfx+" created",
	)
}

func nsArgs(namespaced bool, ns string) []string {
	if namespaced {
		return []string{"-n", ns}
	}
	return nil
}

func stepGetColumns(t *testing.T, k kubectl, ns string) {
	for _, kind := range sampleKinds {
		name := expand(kind.name, ns, k.name)
		row := make([]string, len(kind.row))
		for i, c := range kind.row {
			row[i] = expand(c, ns, k.name)
		}
		// One object by name, and (for a few kinds, to keep the suite
		// fast) the list.
		checkTable(t, "get "+kind.resource+" "+name, k.ok(t, append(nsArgs(kind.namespaced, ns), "get", kind.resource, name)...), kind.header, row)
		switch kind.resource {
		case "pods", "deployments", "namespaces", "nodes", "events", "services":
			checkTable(t, "get "+kind.resource, k.ok(t, append(nsArgs(kind.namespaced, ns), "get", kind.resource)...), kind.header, row)
		}
	}
	// The Service got a ClusterIP from the default range.
	ip := k.jsonpath(t, "{.spec.clusterIP}", "-n", ns, "get", "svc", "svc-a")
	if !strings.HasPrefix(ip, "10.43.") {
		t.Errorf("service clusterIP %q is not in 10.43.0.0/16", ip)
	}
}

func stepDescribe(t *testing.T, k kubectl, ns string) {
	for _, kind := range sampleKinds {
		name := expand(kind.name, ns, k.name)
		r := k.run(t, append(nsArgs(kind.namespaced, ns), "describe", kind.resource, name)...)
		if r.code != 0 {
			t.Errorf("describe %s %s: %s", kind.resource, name, r)
			continue
		}
		found := false
		for _, l := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "Name:" && f[1] == name {
				found = true
			}
		}
		if !found {
			t.Errorf("describe %s %s: no %q line:\n%s", kind.resource, name, "Name: "+name, r.stdout)
		}
	}
	// A few kind-specific lines.
	wantContains(t, "describe deployment", k.ok(t, "-n", ns, "describe", "deploy", "deploy-a"),
		"Replicas:", "2 desired", "registry.local/busybox:1.36")
	wantContains(t, "describe service", k.ok(t, "-n", ns, "describe", "svc", "svc-a"),
		"Type:", "ClusterIP", "TargetPort:", "8080/TCP")
	wantContains(t, "describe pod", k.ok(t, "-n", ns, "describe", "pod", "pod-a"),
		"Node:", "node-"+k.name, "Status:", "Pending")
}

func stepGetWide(t *testing.T, k kubectl, ns string) {
	checkTable(t, "get pods -o wide", k.ok(t, "-n", ns, "get", "pods", "-o", "wide"),
		[]string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"},
		[]string{"pod-a", "0/1", "Pending", "0", "*", "<none>", "node-" + k.name, "<none>", "<none>"})
	checkTable(t, "get deploy -o wide", k.ok(t, "-n", ns, "get", "deploy", "deploy-a", "-o", "wide"),
		[]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
		[]string{"deploy-a", "0/2", "*", "0", "*", "main", "registry.local/busybox:1.36", "app=deploy-a"})
	checkTable(t, "get svc -o wide", k.ok(t, "-n", ns, "get", "svc", "svc-a", "-o", "wide"),
		[]string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"},
		[]string{"svc-a", "ClusterIP", "*", "<none>", "80/TCP", "*", "app=sample"})
}

func stepOutputFormats(t *testing.T, k kubectl, ns string) {
	y := k.ok(t, "-n", ns, "get", "cm", "cm-a", "-o", "yaml")
	wantContains(t, "-o yaml", y, "apiVersion: v1\n", "kind: ConfigMap\n", "  name: cm-a\n", "  namespace: "+ns+"\n", "  a: \"1\"\n", "  uid: ", "  resourceVersion: ")

	obj := k.getJSON(t, "-n", ns, "get", "cm", "cm-a")
	meta, _ := obj["metadata"].(map[string]any)
	wantEqual(t, "-o json kind", fmt.Sprint(obj["kind"]), "ConfigMap")
	wantEqual(t, "-o json name", fmt.Sprint(meta["name"]), "cm-a")
	wantEqual(t, "-o json data", fmt.Sprint(obj["data"]), "map[a:1 b:2]")

	list := k.getJSON(t, "-n", ns, "get", "cm")
	wantEqual(t, "-o json list kind", fmt.Sprint(list["kind"]), "List")

	wantEqual(t, "-o jsonpath", k.ok(t, "-n", ns, "get", "cm", "cm-a", "-o", "jsonpath={.metadata.name}"), "cm-a")
	wantEqual(t, "-o jsonpath over a list", k.ok(t, "-n", ns, "get", "deploy", "-o", "jsonpath={.items[*].metadata.name}"), "deploy-a web")
	wantEqual(t, "-o name", k.ok(t, "-n", ns, "get", "cm", "cm-a", "-o", "name"), "configmap/cm-a\n")
	wantExactLines(t, "-o name list", k.ok(t, "-n", ns, "get", "deploy", "-o", "name"), "deployment.apps/deploy-a", "deployment.apps/web")
	checkTable(t, "-o custom-columns", k.ok(t, "-n", ns, "get", "cm", "cm-a", "-o", "custom-columns=N:.metadata.name,A:.data.a"),
		[]string{"N", "A"}, []string{"cm-a", "1"})
}

func stepSelectors(t *testing.T, k kubectl, ns string) {
	k.okStdin(t, expand(`
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: sel-a, namespace: __NS__, labels: {tier: front}}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: sel-b, namespace: __NS__, labels: {tier: back}}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: sel-c, namespace: __NS__, labels: {tier: front, env: x}}}
`, ns, k.name), "apply", "-f", "-")
	get := func(args ...string) string {
		return k.ok(t, append([]string{"-n", ns, "get", "cm", "-o", "name"}, args...)...)
	}
	wantExactLines(t, "-l tier=front", get("-l", "tier=front"), "configmap/sel-a", "configmap/sel-c")
	wantExactLines(t, "-l tier=front,env=x", get("-l", "tier=front,env=x"), "configmap/sel-c")
	wantExactLines(t, "-l tier!=front", get("-l", "tier,tier!=front"), "configmap/sel-b")
	wantExactLines(t, "-l tier in (back,x)", get("-l", "tier in (back,x)"), "configmap/sel-b")
	wantExactLines(t, "-l env", get("-l", "env"), "configmap/sel-c")
	wantExactLines(t, "-l !env", get("-l", "tier,!env"), "configmap/sel-a", "configmap/sel-b")
	wantExactLines(t, "--field-selector", get("--field-selector", "metadata.name=sel-b"), "configmap/sel-b")
	wantExactLines(t, "--field-selector and -l", get("--field-selector", "metadata.name!=sel-a", "-l", "tier=front"), "configmap/sel-c")
	// Pods have their own field selectors; kubectl describe node uses spec.nodeName.
	wantExactLines(t, "pods --field-selector spec.nodeName", k.ok(t, "-n", ns, "get", "pods", "-o", "name", "--field-selector", "spec.nodeName=node-"+k.name), "pod/pod-a")
	wantExactLines(t, "pods --field-selector status.phase", k.ok(t, "-n", ns, "get", "pods", "-o", "name", "--field-selector", "status.phase=Pending,metadata.name=pod-a"), "pod/pod-a")
	wantExactLines(t, "pods --field-selector status.phase!=", k.ok(t, "-n", ns, "get", "pods", "-o", "name", "--field-selector", "status.phase!=Pending"))
	r := k.run(t, "-n", ns, "get", "cm", "-l", "tier=nowhere")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" || !strings.Contains(r.stderr, "No resources found in "+ns+" namespace.") {
		t.Errorf("get with a selector matching nothing: %s", r)
	}
	// ConfigMaps take only the metadata field selectors; the wording is
	// apimachinery's DefaultMetaV1FieldSelectorConversion.
	r = k.fails(t, "-n", ns, "get", "cm", "--field-selector", "data.a=1")
	wantContains(t, "unsupported field selector", r.stderr, "BadRequest", `"data.a" is not a known field selector`)
}

func stepAllNamespaces(t *testing.T, k kubectl, ns string) {
	out := k.ok(t, "get", "cm", "-A", "-l", "tier=front")
	checkTable(t, "get cm -A", out, []string{"NAMESPACE", "NAME", "DATA", "AGE"}, []string{ns, "sel-a", "0"})
	checkTable(t, "get cm -A", out, []string{"NAMESPACE", "NAME", "DATA", "AGE"}, []string{ns, "sel-c", "0"})
	checkTable(t, "get pods -A", k.ok(t, "get", "pods", "--all-namespaces"),
		[]string{"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"}, []string{ns, "pod-a", "0/1", "Pending"})
	// The bootstrap namespaces are there.
	names := k.ok(t, "get", "ns", "-o", "name")
	wantLines(t, "get ns", names, "namespace/default", "namespace/kube-system", "namespace/kube-public", "namespace/kube-node-lease", "namespace/"+ns)
}

func stepWatch(t *testing.T, k kubectl, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := k.command("-n", ns, "get", "cm", "-w")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	rows := make(chan []string, 100)
	go func() {
		defer close(rows)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				rows <- cellSep.Split(line, -1)
			}
		}
	}()
	var seen [][]string
	next := func(what string) []string {
		select {
		case r, ok := <-rows:
			if !ok {
				t.Fatalf("kubectl get -w ended while waiting for %s; output so far %q, stderr %q", what, seen, stderr.String())
			}
			seen = append(seen, r)
			return r
		case <-time.After(30 * time.Second):
			t.Fatalf("kubectl get -w: no %s within 30s; output so far %q, stderr %q", what, seen, stderr.String())
		}
		return nil
	}
	// The initial list: header first, then the existing configmaps.
	if h := next("header"); !slices.Equal(h, []string{"NAME", "DATA", "AGE"}) {
		t.Fatalf("kubectl get -w: header %q", h)
	}
	k.ok(t, "-n", ns, "create", "configmap", "watched", "--from-literal=x=1", "--from-literal=y=2")
	for {
		r := next("row for the new configmap")
		if r[0] == "watched" {
			if len(r) < 2 || r[1] != "2" {
				t.Errorf("watch row %q: want DATA 2", r)
			}
			break
		}
	}
	// A change to it shows up as well.
	k.ok(t, "-n", ns, "label", "cm", "watched", "seen=yes")
	for {
		if r := next("row for the modified configmap"); r[0] == "watched" {
			break
		}
	}
}

func stepChunkSize(t *testing.T, k kubectl, ns string) {
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprintf("- {apiVersion: v1, kind: ConfigMap, metadata: {name: chunk-%d, namespace: %s, labels: {chunk: \"yes\"}}, data: {i: \"%d\"}}", i, ns, i))
	}
	k.okStdin(t, "apiVersion: v1\nkind: List\nitems:\n"+strings.Join(items, "\n")+"\n", "apply", "-f", "-")
	r := k.run(t, "-n", ns, "get", "cm", "-l", "chunk=yes", "--chunk-size=2", "-o", "name", "-v=6")
	if r.code != 0 {
		t.Fatalf("get --chunk-size=2: %s", r)
	}
	wantExactLines(t, "get --chunk-size=2 -o name", r.stdout,
		"configmap/chunk-0", "configmap/chunk-1", "configmap/chunk-2", "configmap/chunk-3", "configmap/chunk-4")
	// kubectl really paged: three requests, the later ones with a continue token.
	if n := strings.Count(r.stderr, "limit=2"); n != 3 {
		t.Errorf("want 3 paged requests (limit=2), saw %d in:\n%s", n, r.stderr)
	}
	if n := strings.Count(r.stderr, "continue="); n != 2 {
		t.Errorf("want 2 requests with a continue token, saw %d in:\n%s", n, r.stderr)
	}
	// The table form prints one header over all chunks.
	rows := table(k.ok(t, "-n", ns, "get", "cm", "-l", "chunk=yes", "--chunk-size=2"))
	if len(rows) != 6 || !slices.Equal(rows[0], []string{"NAME", "DATA", "AGE"}) {
		t.Errorf("get --chunk-size=2 table: want a header and 5 rows, got %q", rows)
	}
	for i, row := range rows[1:] {
		if row[0] != fmt.Sprintf("chunk-%d", i) {
			t.Errorf("chunked table row %d is %q", i, row)
		}
	}
}

const appManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: __NS__
  labels: {app: app}
spec:
  replicas: __REPLICAS__
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        image: registry.local/app:1.0
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: app
  namespace: __NS__
spec:
  selector: {app: app}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: __NS__
data:
  mode: __MODE__
`

func appDoc(ns, replicas, mode string) string {
	return strings.NewReplacer("__NS__", ns, "__REPLICAS__", replicas, "__MODE__", mode).Replace(appManifest)
}

func stepApplyMultiDoc(t *testing.T, k kubectl, ns string) {
	v1 := writeFile(t, "app.yaml", appDoc(ns, "1", "blue"))
	wantExactLines(t, "first apply", k.ok(t, "apply", "-f", v1),
		"deployment.apps/app created", "service/app created", "configmap/app-config created")
	wantExactLines(t, "second apply", k.ok(t, "apply", "-f", v1),
		"deployment.apps/app unchanged", "service/app unchanged", "configmap/app-config unchanged")
	last := k.jsonpath(t, `{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}`, "-n", ns, "get", "cm", "app-config")
	wantContains(t, "last-applied-configuration", last, `"mode":"blue"`)

	// diff: nothing to show for the applied state, exit 0.
	r := k.run(t, "diff", "-f", v1)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("diff of the applied manifest: want exit 0 and no output, got %s", r)
	}
	// diff: a change shows up with exit 1.
	v2 := writeFile(t, "app.yaml", appDoc(ns, "3", "green"))
	r = k.run(t, "diff", "-f", v2)
	if r.code != 1 {
		t.Errorf("diff of a changed manifest: want exit 1, got %s", r)
	}
	wantContains(t, "diff output", r.stdout, "-  replicas: 1", "+  replicas: 3", "-  mode: blue", "+  mode: green")
	if strings.Contains(r.stdout, "kind: Service") {
		t.Errorf("diff shows the unchanged Service:\n%s", r.stdout)
	}
	// diff must not have changed anything.
	wantEqual(t, "replicas after diff", k.jsonpath(t, "{.spec.replicas}", "-n", ns, "get", "deploy", "app"), "1")

	wantExactLines(t, "apply of the change", k.ok(t, "apply", "-f", v2),
		"deployment.apps/app configured", "service/app unchanged", "configmap/app-config configured")
	wantEqual(t, "replicas after apply", k.jsonpath(t, "{.spec.replicas}", "-n", ns, "get", "deploy", "app"), "3")
	wantEqual(t, "configmap after apply", k.jsonpath(t, "{.data.mode}", "-n", ns, "get", "cm", "app-config"), "green")
	if r := k.run(t, "diff", "-f", v2); r.code != 0 {
		t.Errorf("diff after applying: want exit 0, got %s", r)
	}
}

func managers(t *testing.T, obj map[string]any) map[string]string {
	t.Helper()
	meta, _ := obj["metadata"].(map[string]any)
	entries, _ := meta["managedFields"].([]any)
	out := map[string]string{}
	for _, e := range entries {
		m, _ := e.(map[string]any)
		out[fmt.Sprint(m["manager"])] = fmt.Sprint(m["operation"])
	}
	return out
}

// stepServerSideApplyCreate: a server-side apply of an object that does
// not exist yet creates it.
func stepServerSideApplyCreate(t *testing.T, k kubectl, ns string) {
	doc := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa-new, namespace: %s}\ndata: {owner: first}\n", ns)
	wantExactLines(t, "apply --server-side of a new object", k.okStdin(t, doc, "apply", "--server-side", "-f", "-"), "configmap/ssa-new serverside-applied")
	obj := k.getJSON(t, "-n", ns, "get", "cm", "ssa-new", "--show-managed-fields")
	wantEqual(t, "data", fmt.Sprint(obj["data"]), "map[owner:first]")
	if got := managers(t, obj); got["kubectl"] != "Apply" {
		t.Errorf("managedFields: want manager kubectl with operation Apply, got %v", got)
	}
	dep := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: ssa-dep, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: ssa-dep}}
  template:
    metadata: {labels: {app: ssa-dep}}
    spec: {containers: [{name: main, image: "registry.local/ssa:1"}]}
`, ns)
	wantExactLines(t, "apply --server-side of a new deployment", k.okStdin(t, dep, "apply", "--server-side", "--field-manager=e2e-ssa", "-f", "-"), "deployment.apps/ssa-dep serverside-applied")
	if got := managers(t, k.getJSON(t, "-n", ns, "get", "deploy", "ssa-dep", "--show-managed-fields")); got["e2e-ssa"] != "Apply" {
		t.Errorf("managedFields: want manager e2e-ssa with operation Apply, got %v", got)
	}
}

// stepServerSideApply applies to an existing object (created by kubectl
// create, so this does not depend on apply creating it).
func stepServerSideApply(t *testing.T, k kubectl, ns string) {
	// kubectl create owns .data.other; apply takes .data.owner.
	k.ok(t, "-n", ns, "create", "configmap", "ssa", "--from-literal=other=created")
	doc := func(v string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: %s}\ndata: {owner: %s}\n", ns, v)
	}
	wantExactLines(t, "apply --server-side", k.okStdin(t, doc("first"), "apply", "--server-side", "-f", "-"), "configmap/ssa serverside-applied")
	obj := k.getJSON(t, "-n", ns, "get", "cm", "ssa", "--show-managed-fields")
	wantEqual(t, "data after apply --server-side", fmt.Sprint(obj["data"]), "map[other:created owner:first]")
	got := managers(t, obj)
	if got["kubectl"] != "Apply" {
		t.Errorf("managedFields after apply --server-side: want manager kubectl with operation Apply, got %v", got)
	}
	if got["kubectl-create"] != "Update" {
		t.Errorf("managedFields after kubectl create: want manager kubectl-create with operation Update, got %v", got)
	}
	// Idempotent.
	wantExactLines(t, "apply --server-side again", k.okStdin(t, doc("first"), "apply", "--server-side", "-f", "-"), "configmap/ssa serverside-applied")

	// A second manager changing the same field conflicts...
	r := k.runWith(t, nil, doc("second"), "apply", "--server-side", "--field-manager=e2e-other", "-f", "-")
	if r.code == 0 {
		t.Errorf("conflicting server-side apply: want a failure, got %s", r)
	}
	wantContains(t, "conflict", r.stderr, "conflict", `"kubectl"`, ".data.owner")
	// ...until it forces.
	wantExactLines(t, "apply --force-conflicts", k.okStdin(t, doc("second"), "apply", "--server-side", "--field-manager=e2e-other", "--force-conflicts", "-f", "-"), "configmap/ssa serverside-applied")
	obj = k.getJSON(t, "-n", ns, "get", "cm", "ssa", "--show-managed-fields")
	wantEqual(t, "data after forced apply", fmt.Sprint(obj["data"]), "map[other:created owner:second]")
	if got := managers(t, obj); got["e2e-other"] != "Apply" {
		t.Errorf("managedFields after forced apply: want manager e2e-other, got %v", got)
	}
	// Without --show-managed-fields, kubectl hides them.
	if y := k.ok(t, "-n", ns, "get", "cm", "ssa", "-o", "yaml"); strings.Contains(y, "managedFields") {
		t.Errorf("get -o yaml shows managedFields without --show-managed-fields:\n%s", y)
	}
	// An Update by another client is recorded too.
	k.ok(t, "-n", ns, "label", "cm", "ssa", "touched=yes")
	if got := managers(t, k.getJSON(t, "-n", ns, "get", "cm", "ssa", "--show-managed-fields")); got["kubectl-label"] != "Update" {
		t.Errorf("managedFields after kubectl label: want manager kubectl-label with Update, got %v", got)
	}
}

func stepReplace(t *testing.T, k kubectl, ns string) {
	obj := k.getJSON(t, "-n", ns, "get", "cm", "cm-a")
	obj["data"] = map[string]any{"a": "replaced", "c": "3"}
	body, _ := json.Marshal(obj)
	wantExactLines(t, "replace -f", k.okStdin(t, string(body), "replace", "-f", "-"), "configmap/cm-a replaced")
	wantEqual(t, "data after replace", fmt.Sprint(k.getJSON(t, "-n", ns, "get", "cm", "cm-a")["data"]), "map[a:replaced c:3]")
	// The stale resourceVersion now conflicts.
	r := k.runWith(t, nil, string(body), "replace", "-f", "-")
	if r.code == 0 {
		t.Errorf("replace with a stale resourceVersion: want a conflict, got %s", r)
	}
	wantContains(t, "stale replace", r.stderr, "the object has been modified")
	// replace --force deletes and recreates: a new uid.
	uid := k.jsonpath(t, "{.metadata.uid}", "-n", ns, "get", "cm", "cm-a")
	fresh := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-a, namespace: %s}\ndata: {a: \"1\", b: \"2\"}\n", ns)
	out := k.okStdin(t, fresh, "replace", "--force", "-f", "-")
	wantContains(t, "replace --force", out, "configmap/cm-a replaced")
	if uid2 := k.jsonpath(t, "{.metadata.uid}", "-n", ns, "get", "cm", "cm-a"); uid2 == uid || uid2 == "" {
		t.Errorf("replace --force: uid %q before, %q after; want a new object", uid, uid2)
	}
}

func stepEdit(t *testing.T, k kubectl, ns string) {
	k.ok(t, "-n", ns, "create", "configmap", "edit-me", "--from-literal=color=old-value")
	r := k.runWith(t, []string{"KUBE_EDITOR=sed -i s/old-value/new-value/", "EDITOR="}, "", "-n", ns, "edit", "cm", "edit-me")
	if r.code != 0 {
		t.Fatalf("kubectl edit: %s", r)
	}
	wantExactLines(t, "edit", r.stdout, "configmap/edit-me edited")
	wantEqual(t, "data after edit", k.jsonpath(t, "{.data.color}", "-n", ns, "get", "cm", "edit-me"), "new-value")
	// An editor that changes nothing: "Edit cancelled".
	r = k.runWith(t, []string{"KUBE_EDITOR=true"}, "", "-n", ns, "edit", "cm", "edit-me")
	if r.code != 0 {
		t.Fatalf("kubectl edit with no change: %s", r)
	}
	wantContains(t, "edit without change", r.stdout+r.stderr, "Edit cancelled, no changes made.")
}

func stepPatch(t *testing.T, k kubectl, ns string) {
	// strategic: containers merge by name, so the image changes in place...
	out := k.ok(t, "-n", ns, "patch", "deploy", "web", "--type", "strategic", "-p",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.local/web:2.0"}]}}}}`)
	wantExactLines(t, "patch --type strategic", out, "deployment.apps/web patched")
	wantEqual(t, "images after strategic patch", k.jsonpath(t, "{.spec.template.spec.containers[*].image}", "-n", ns, "get", "deploy", "web"), "registry.local/web:2.0")
	// ...and a new name adds a container (the default type is strategic).
	k.ok(t, "-n", ns, "patch", "deploy", "web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"registry.local/side:1"}]}}}}`)
	wantEqual(t, "containers after second strategic patch", k.jsonpath(t, "{.spec.template.spec.containers[*].name}", "-n", ns, "get", "deploy", "web"), "side web")
	gen := k.jsonpath(t, "{.metadata.generation}", "-n", ns, "get", "deploy", "web")
	if gen != "3" {
		t.Errorf("deployment generation after two spec patches: got %s, want 3", gen)
	}

	// merge: maps merge, null deletes.
	wantExactLines(t, "patch --type merge", k.ok(t, "-n", ns, "patch", "cm", "lit", "--type", "merge", "-p", `{"data":{"extra":"yes"}}`), "configmap/lit patched")
	wantEqual(t, "data after merge patch", fmt.Sprint(k.getJSON(t, "-n", ns, "get", "cm", "lit")["data"]), "map[extra:yes greeting:hello]")
	// The same patch again changes nothing.
	wantExactLines(t, "no-op patch", k.ok(t, "-n", ns, "patch", "cm", "lit", "--type", "merge", "-p", `{"data":{"extra":"yes"}}`), "configmap/lit patched (no change)")
	k.ok(t, "-n", ns, "patch", "cm", "lit", "--type", "merge", "-p", `{"data":{"extra":null}}`)
	wantEqual(t, "data after merge patch with null", fmt.Sprint(k.getJSON(t, "-n", ns, "get", "cm", "lit")["data"]), "map[greeting:hello]")

	// json: RFC 6902 operations, and a failing test op rejects the patch.
	wantExactLines(t, "patch --type json", k.ok(t, "-n", ns, "patch", "cm", "lit", "--type", "json", "-p",
		`[{"op":"test","path":"/data/greeting","value":"hello"},{"op":"replace","path":"/data/greeting","value":"bye"},{"op":"add","path":"/data/n","value":"1"}]`), "configmap/lit patched")
	wantEqual(t, "data after json patch", fmt.Sprint(k.getJSON(t, "-n", ns, "get", "cm", "lit")["data"]), "map[greeting:bye n:1]")
	k.fails(t, "-n", ns, "patch", "cm", "lit", "--type", "json", "-p", `[{"op":"test","path":"/data/greeting","value":"hello"},{"op":"remove","path":"/data/n"}]`)
	wantEqual(t, "data after rejected json patch", fmt.Sprint(k.getJSON(t, "-n", ns, "get", "cm", "lit")["data"]), "map[greeting:bye n:1]")
	k.ok(t, "-n", ns, "patch", "cm", "lit", "--type", "json", "-p", `[{"op":"remove","path":"/data/n"},{"op":"replace","path":"/data/greeting","value":"hello"}]`)
}

func stepLabelAnnotate(t *testing.T, k kubectl, ns string) {
	get := func(path string) string { return k.jsonpath(t, path, "-n", ns, "get", "cm", "lit") }
	wantExactLines(t, "label", k.ok(t, "-n", ns, "label", "cm", "lit", "color=blue"), "configmap/lit labeled")
	wantEqual(t, "label value", get("{.metadata.labels.color}"), "blue")
	r := k.fails(t, "-n", ns, "label", "cm", "lit", "color=red")
	wantContains(t, "label without --overwrite", r.stderr, "already has a value (blue)", "--overwrite")
	wantEqual(t, "label value after refused change", get("{.metadata.labels.color}"), "blue")
	wantExactLines(t, "label --overwrite", k.ok(t, "-n", ns, "label", "cm", "lit", "color=red", "--overwrite"), "configmap/lit labeled")
	wantEqual(t, "label value after --overwrite", get("{.metadata.labels.color}"), "red")
	wantExactLines(t, "label removal", k.ok(t, "-n", ns, "label", "cm", "lit", "color-"), "configmap/lit unlabeled")
	wantEqual(t, "labels after removal", get("{.metadata.labels}"), "")
	// label by selector.
	out := k.ok(t, "-n", ns, "label", "cm", "-l", "tier=front", "picked=yes")
	wantExactLines(t, "label -l", out, "configmap/sel-a labeled", "configmap/sel-c labeled")

	wantExactLines(t, "annotate", k.ok(t, "-n", ns, "annotate", "cm", "lit", "note=first"), "configmap/lit annotated")
	r = k.fails(t, "-n", ns, "annotate", "cm", "lit", "note=second")
	wantContains(t, "annotate without --overwrite", r.stderr, "already has a value (first)", "--overwrite")
	wantExactLines(t, "annotate --overwrite", k.ok(t, "-n", ns, "annotate", "cm", "lit", "note=second", "--overwrite"), "configmap/lit annotated")
	wantEqual(t, "annotation", get("{.metadata.annotations.note}"), "second")
	wantExactLines(t, "annotation removal", k.ok(t, "-n", ns, "annotate", "cm", "lit", "note-"), "configmap/lit annotated")
	wantEqual(t, "annotation after removal", get("{.metadata.annotations.note}"), "")
}

func stepScale(t *testing.T, k kubectl, ns string) {
	wantExactLines(t, "scale", k.ok(t, "-n", ns, "scale", "deploy", "web", "--replicas=5"), "deployment.apps/web scaled")
	wantEqual(t, "replicas after scale", k.jsonpath(t, "{.spec.replicas}", "-n", ns, "get", "deploy", "web"), "5")
	r := k.fails(t, "-n", ns, "scale", "deploy", "web", "--current-replicas=2", "--replicas=7")
	wantContains(t, "scale with a wrong precondition", r.stderr, "Expected replicas to be 2, was 5")
	wantEqual(t, "replicas after refused scale", k.jsonpath(t, "{.spec.replicas}", "-n", ns, "get", "deploy", "web"), "5")
	// The scale subresource itself.
	scale := k.rawJSON(t, "/apis/apps/v1/namespaces/"+ns+"/deployments/web/scale")
	spec, _ := scale["spec"].(map[string]any)
	wantEqual(t, "scale subresource kind", fmt.Sprint(scale["kind"]), "Scale")
	wantEqual(t, "scale subresource replicas", fmt.Sprint(spec["replicas"]), "5")
	wantExactLines(t, "scale statefulset", k.ok(t, "-n", ns, "scale", "sts", "sts-a", "--replicas=3"), "statefulset.apps/sts-a scaled")
	wantEqual(t, "statefulset replicas", k.jsonpath(t, "{.spec.replicas}", "-n", ns, "get", "sts", "sts-a"), "3")
}

func stepDelete(t *testing.T, k kubectl, ns string) {
	// By name.
	k.ok(t, "-n", ns, "create", "configmap", "del-one")
	wantContains(t, "delete by name", k.ok(t, "-n", ns, "delete", "cm", "del-one"), `configmap "del-one" deleted`)
	k.notFound(t, "-n", ns, "cm", "del-one")

	// By label.
	k.okStdin(t, expand(`
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: del-l1, namespace: __NS__, labels: {del: group}}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: del-l2, namespace: __NS__, labels: {del: group}}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: del-keep, namespace: __NS__, labels: {del: other}}}
`, ns, k.name), "apply", "-f", "-")
	out := k.ok(t, "-n", ns, "delete", "cm", "-l", "del=group")
	wantContains(t, "delete -l", out, `configmap "del-l1" deleted`, `configmap "del-l2" deleted`)
	if len(lines(out)) != 2 {
		t.Errorf("delete -l: want 2 lines, got:\n%s", out)
	}
	wantExactLines(t, "after delete -l", k.ok(t, "-n", ns, "get", "cm", "-l", "del", "-o", "name"), "configmap/del-keep")

	// --all, in a namespace of its own.
	other := ns + "-all"
	k.ok(t, "create", "namespace", other)
	for _, name := range []string{"x1", "x2", "x3"} {
		k.ok(t, "-n", other, "create", "configmap", name)
	}
	k.ok(t, "-n", other, "create", "deployment", "survivor", "--image=registry.local/s:1")
	out = k.ok(t, "-n", other, "delete", "cm", "--all")
	wantContains(t, "delete --all", out, `configmap "x1" deleted`, `configmap "x2" deleted`, `configmap "x3" deleted`)
	// kube-root-ca.crt is deleted too, and published again at once, as
	// upstream's root CA publisher does.
	r := k.run(t, "-n", other, "get", "cm", "-o", "name")
	if r.code != 0 || strings.TrimSpace(strings.ReplaceAll(r.stdout, "configmap/kube-root-ca.crt", "")) != "" {
		t.Errorf("configmaps left after delete --all: %s", r)
	}
	wantExactLines(t, "other kinds survive delete cm --all", k.ok(t, "-n", other, "get", "deploy", "-o", "name"), "deployment.apps/survivor")

	// A pod bound to a node is deleted gracefully: it stays, Terminating,
	// until its kubelet (there is none here) confirms.
	k.okStdin(t, expand(`
apiVersion: v1
kind: Pod
metadata: {name: pod-graceful, namespace: __NS__}
spec:
  nodeName: node-__SFX__
  containers: [{name: main, image: "registry.local/busybox:1.36"}]
`, ns, k.name), "apply", "-f", "-")
	wantContains(t, "graceful delete", k.ok(t, "-n", ns, "delete", "pod", "pod-graceful", "--wait=false"), `pod "pod-graceful" deleted`)
	wantEqual(t, "deletionGracePeriodSeconds", k.jsonpath(t, "{.metadata.deletionGracePeriodSeconds}", "-n", ns, "get", "pod", "pod-graceful"), "30")
	if ts := k.jsonpath(t, "{.metadata.deletionTimestamp}", "-n", ns, "get", "pod", "pod-graceful"); ts == "" {
		t.Errorf("gracefully deleted pod has no deletionTimestamp")
	}
	checkTable(t, "terminating pod", k.ok(t, "-n", ns, "get", "pod", "pod-graceful"),
		[]string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, []string{"pod-graceful", "0/1", "Terminating"})

	// --cascade=background removes the owner at once.
	wantContains(t, "delete --cascade=background", k.ok(t, "-n", ns, "delete", "deploy", "deploy-a", "--cascade=background"), `deployment.apps "deploy-a" deleted`)
	k.notFound(t, "-n", ns, "deploy", "deploy-a")

	// Deleting what is not there fails, unless --ignore-not-found.
	r = k.fails(t, "-n", ns, "delete", "cm", "never-was")
	wantContains(t, "delete missing", r.stderr, `configmaps "never-was" not found`)
	if out := k.ok(t, "-n", ns, "delete", "cm", "never-was", "--ignore-not-found"); strings.TrimSpace(out) != "" {
		t.Errorf("delete --ignore-not-found printed %q", out)
	}
}

// stepDeleteForce deletes a pod bound to a node that no kubelet serves:
// only --grace-period=0 --force removes it.
func stepDeleteForce(t *testing.T, k kubectl, ns string) {
	// --grace-period=0 --force on a pod bound to a node no kubelet serves.
	k.okStdin(t, expand(`
apiVersion: v1
kind: Pod
metadata: {name: pod-force, namespace: __NS__}
spec:
  nodeName: node-__SFX__
  containers: [{name: main, image: "registry.local/busybox:1.36"}]
`, ns, k.name), "apply", "-f", "-")
	r := k.run(t, "-n", ns, "delete", "pod", "pod-force", "--grace-period=0", "--force")
	if r.code != 0 {
		t.Fatalf("delete --force: %s", r)
	}
	wantContains(t, "delete --force", r.stdout, `pod "pod-force" force deleted`)
	wantContains(t, "delete --force warning", r.stderr, "Immediate deletion does not wait for confirmation")
	k.notFound(t, "-n", ns, "pod", "pod-force")

	// Force is also how a pod stuck Terminating (see the delete step) goes.
	r = k.run(t, "-n", ns, "delete", "pod", "pod-graceful", "--grace-period=0", "--force")
	if r.code != 0 {
		t.Fatalf("delete --force of a terminating pod: %s", r)
	}
	wantContains(t, "delete --force", r.stdout, `pod "pod-graceful" force deleted`)
	k.notFound(t, "-n", ns, "pod", "pod-graceful")
}

func stepDryRunServer(t *testing.T, k kubectl, ns string) {
	out := k.ok(t, "-n", ns, "create", "configmap", "dry-cm", "--from-literal=a=b", "--dry-run=server")
	wantExactLines(t, "create --dry-run=server", out, "configmap/dry-cm created (server dry run)")
	k.notFound(t, "-n", ns, "cm", "dry-cm")
	// The server fills in what it would have: uid, creationTimestamp.
	y := k.ok(t, "-n", ns, "create", "deployment", "dry-dep", "--image=registry.local/d:1", "--dry-run=server", "-o", "yaml")
	wantContains(t, "server dry-run object", y, "uid: ", "creationTimestamp: ", "progressDeadlineSeconds: 600")
	k.notFound(t, "-n", ns, "deploy", "dry-dep")
	// Dry-run delete and patch leave the object as it was.
	wantContains(t, "delete --dry-run=server", k.ok(t, "-n", ns, "delete", "cm", "lit", "--dry-run=server"), `configmap "lit" deleted`, "(server dry run)")
	k.ok(t, "-n", ns, "patch", "cm", "lit", "--dry-run=server", "-p", `{"data":{"greeting":"dry"}}`)
	wantEqual(t, "after dry runs", k.jsonpath(t, "{.data.greeting}", "-n", ns, "get", "cm", "lit"), "hello")
	// apply --dry-run=server of a new object.
	doc := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry-apply, namespace: %s}\n", ns)
	wantContains(t, "apply --dry-run=server", k.okStdin(t, doc, "apply", "--dry-run=server", "-f", "-"), "configmap/dry-apply created (server dry run)")
	k.notFound(t, "-n", ns, "cm", "dry-apply")
}

func stepExplain(t *testing.T, k kubectl, _ string) {
	out := k.ok(t, "explain", "pod.spec.containers")
	wantContains(t, "explain pod.spec.containers", out, "KIND:", "Pod", "containers", "<[]Container>", "image", "<string>")
	wantContains(t, "explain deployment.spec.replicas", k.ok(t, "explain", "deployment.spec.replicas"), "apps", "replicas", "<integer>")
	r := k.fails(t, "explain", "pod.spec.nosuchfield")
	wantContains(t, "explain of a missing field", r.stderr, "nosuchfield")
}

// hasAPIResource reports whether api-resources output has a row with
// exactly these cells.
func hasAPIResource(out string, cells ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if slices.Equal(strings.Fields(l), cells) {
			return true
		}
	}
	return false
}

func stepAPIResources(t *testing.T, k kubectl, _ string) {
	out := k.ok(t, "api-resources")
	checkTable(t, "api-resources", out, []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}, nil)
	for _, row := range [][]string{
		{"deployments", "deploy", "apps/v1", "true", "Deployment"},
		{"configmaps", "cm", "v1", "true", "ConfigMap"},
		{"namespaces", "ns", "v1", "false", "Namespace"},
		{"pods", "po", "v1", "true", "Pod"},
		{"services", "svc", "v1", "true", "Service"},
		{"cronjobs", "cj", "batch/v1", "true", "CronJob"},
		{"jobs", "batch/v1", "true", "Job"},
		{"clusterroles", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"},
		{"priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"},
	} {
		if !hasAPIResource(out, row...) {
			t.Errorf("api-resources: no row %q in\n%s", row, out)
		}
	}
	wantExactLines(t, "api-resources --api-group=apps -o name", k.ok(t, "api-resources", "--api-group=apps", "-o", "name"),
		"controllerrevisions.apps", "daemonsets.apps", "deployments.apps", "replicasets.apps", "statefulsets.apps")
	namespaced := k.ok(t, "api-resources", "--namespaced=false", "-o", "name")
	wantLines(t, "api-resources --namespaced=false", namespaced, "namespaces", "nodes", "persistentvolumes")
	if slices.Contains(lines(namespaced), "pods") {
		t.Errorf("api-resources --namespaced=false lists pods")
	}
}

func stepAPIVersions(t *testing.T, k kubectl, _ string) {
	wantLines(t, "api-versions", k.ok(t, "api-versions"),
		"v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "policy/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1")
}

func stepVersion(t *testing.T, k kubectl, _ string) {
	out := k.ok(t, "version")
	wantLines(t, "version", out, "Server Version: "+kiteVersion)
	if k.name == "kite" {
		wantLines(t, "version", out, "Client Version: "+kiteVersion)
	}
	v := k.getJSON(t, "version")
	sv, _ := v["serverVersion"].(map[string]any)
	wantEqual(t, "serverVersion.gitVersion", fmt.Sprint(sv["gitVersion"]), kiteVersion)
	wantEqual(t, "serverVersion.major", fmt.Sprint(sv["major"]), "1")
	wantEqual(t, "serverVersion.minor", fmt.Sprint(sv["minor"]), "37")
}

func stepAuthWhoami(t *testing.T, k kubectl, _ string) {
	out := k.ok(t, "auth", "whoami")
	checkTable(t, "auth whoami", out, []string{"ATTRIBUTE", "VALUE"}, []string{"Username", "system:admin"})
	wantContains(t, "auth whoami groups", out, "system:masters")
	wantEqual(t, "auth whoami -o jsonpath", k.ok(t, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"), "system:admin")
	wantEqual(t, "auth can-i", strings.TrimSpace(k.ok(t, "auth", "can-i", "create", "deployments")), "yes")
}

func stepRawReadyz(t *testing.T, k kubectl, _ string) {
	wantEqual(t, "get --raw /readyz", k.ok(t, "get", "--raw", "/readyz"), "ok")
	wantEqual(t, "get --raw /livez", k.ok(t, "get", "--raw", "/livez"), "ok")
	ns := k.rawJSON(t, "/api/v1/namespaces/default")
	wantEqual(t, "get --raw namespace", fmt.Sprint(ns["kind"]), "Namespace")
}

// stepDeleteCascade: --cascade=background, foreground and orphan through
// the garbage collector, with a ConfigMap owning another.
func stepDeleteCascade(t *testing.T, k kubectl, ns string) {
	for _, cascade := range []string{"background", "foreground", "orphan"} {
		owner, dep := "owner-"+cascade, "dep-"+cascade
		k.ok(t, "-n", ns, "create", "cm", owner)
		uid := k.jsonpath(t, "{.metadata.uid}", "-n", ns, "get", "cm", owner)
		k.okStdin(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  namespace: %s
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: %s, uid: %s}]
`, dep, ns, owner, uid), "apply", "-f", "-")
		// kubectl waits until the owner is gone, which for foreground and
		// orphan takes the garbage collector's work.
		wantContains(t, "delete --cascade="+cascade, k.ok(t, "-n", ns, "delete", "cm", owner, "--cascade="+cascade, "--timeout=30s"), fmt.Sprintf(`configmap "%s" deleted`, owner))
		k.notFound(t, "-n", ns, "cm", owner)
		if cascade == "orphan" {
			wantEqual(t, "orphaned dependent's owners", k.jsonpath(t, "{.metadata.ownerReferences}", "-n", ns, "get", "cm", dep), "")
			continue
		}
		deadline := time.Now().Add(20 * time.Second)
		for k.run(t, "-n", ns, "get", "cm", dep).code == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("--cascade=%s: dependent %s still exists after 20s", cascade, dep)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// stepDeleteNamespace: kubectl delete namespace waits until the namespace
// controller has emptied it and it is gone.
func stepDeleteNamespace(t *testing.T, k kubectl, ns string) {
	gone := ns + "-gone"
	k.ok(t, "create", "namespace", gone)
	k.ok(t, "-n", gone, "create", "cm", "inside")
	k.ok(t, "-n", gone, "create", "secret", "generic", "inside", "--from-literal=k=v")
	wantContains(t, "delete namespace", k.ok(t, "delete", "namespace", gone, "--timeout=60s"), fmt.Sprintf(`namespace "%s" deleted`, gone))
	k.notFound(t, "namespace", gone)
}
