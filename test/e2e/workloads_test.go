package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestWorkloads drives the control plane (scheduler and controllers) with
// real kubectl on a server of its own, with three simulated nodes standing
// in for kubelets: deployments and their rollouts, jobs, cronjobs,
// statefulsets, daemonsets, services' endpoints, cordon and drain.
func TestWorkloads(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	nodes := startSimNodes(t, s, "node-a", "node-b", "node-c")
	k := bundledKubectl(t, s)
	ns := "e2e-workloads"
	k.ok(t, "create", "namespace", ns)
	for _, step := range []struct {
		name string
		fn   func(t *testing.T, k kubectl, ns string)
	}{
		{"deployment", stepDeployment},
		{"rollout", stepRollout},
		{"progress-deadline", stepProgressDeadline},
		{"endpoints", stepEndpoints},
		{"job", stepJob},
		{"cronjob", stepCronJob},
		{"statefulset", stepStatefulSet},
		{"daemonset", stepDaemonSet},
		{"drain", stepDrain},
		{"scheduling-failure", stepSchedulingFailure},
		{"delete-namespace", stepDeleteWorkloadNamespace},
		// Last: pods on a dead node stay Terminating (no kubelet confirms
		// their end), which would hold up the namespace's deletion.
		{"node-failure", func(t *testing.T, k kubectl, ns string) { stepNodeFailure(t, k, nodes) }},
	} {
		if !t.Run(step.name, func(t *testing.T) { step.fn(t, k, ns) }) {
			// Later steps build on the deployment of the first ones.
			if step.name == "deployment" {
				t.FailNow()
			}
		}
	}
}

func stepDeployment(t *testing.T, k kubectl, ns string) {
	wantLines(t, "create", k.ok(t, "-n", ns, "create", "deployment", "web", "--image=registry.local/web:1.0", "--replicas=3"), "deployment.apps/web created")
	wantContains(t, "rollout status", k.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s"), `deployment "web" successfully rolled out`)
	checkTable(t, "get deploy", k.ok(t, "-n", ns, "get", "deploy", "web"), []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, []string{"web", "3/3", "3", "3"})
	wantLines(t, "scale", k.ok(t, "-n", ns, "scale", "deployment/web", "--replicas=5"), "deployment.apps/web scaled")
	k.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	nodes := strings.Fields(k.jsonpath(t, "{.items[*].spec.nodeName}", "-n", ns, "get", "pods", "-l", "app=web"))
	if len(nodes) != 5 {
		t.Fatalf("pods of web on nodes %v, want 5 pods", nodes)
	}
	perNode := map[string]int{}
	for _, n := range nodes {
		perNode[n]++
	}
	if len(perNode) != 3 {
		t.Errorf("5 replicas on nodes %v: the scheduler should spread them over all 3 nodes", perNode)
	}
	describe := k.ok(t, "-n", ns, "describe", "deployment", "web")
	wantContains(t, "describe deployment", describe, "ScalingReplicaSet", "Scaled up replica set web-", "NewReplicaSetAvailable")
	events := k.ok(t, "-n", ns, "get", "events")
	wantContains(t, "events", events, "Scheduled", "Successfully assigned "+ns+"/web-", "SuccessfulCreate")
}

func stepRollout(t *testing.T, k kubectl, ns string) {
	rolledOut := func() {
		t.Helper()
		wantContains(t, "rollout status", k.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s"), `deployment "web" successfully rolled out`)
	}
	image := func() string {
		return k.jsonpath(t, "{.spec.template.spec.containers[0].image}", "-n", ns, "get", "deploy", "web")
	}
	wantLines(t, "set image", k.ok(t, "-n", ns, "set", "image", "deployment/web", "web=registry.local/web:2.0"), "deployment.apps/web image updated")
	rolledOut()
	checkHistory(t, k.ok(t, "-n", ns, "rollout", "history", "deployment/web"), "deployment.apps/web", "1", "2")
	wantContains(t, "history revision 1", k.ok(t, "-n", ns, "rollout", "history", "deployment/web", "--revision=1"), "registry.local/web:1.0")

	wantLines(t, "undo", k.ok(t, "-n", ns, "rollout", "undo", "deployment/web"), "deployment.apps/web rolled back")
	rolledOut()
	wantEqual(t, "image after undo", image(), "registry.local/web:1.0")
	if rss := strings.Fields(k.jsonpath(t, "{.items[*].metadata.name}", "-n", ns, "get", "rs", "-l", "app=web")); len(rss) != 2 {
		t.Errorf("replica sets after undo %v: the old one should be reused", rss)
	}
	checkHistory(t, k.ok(t, "-n", ns, "rollout", "history", "deployment/web"), "deployment.apps/web", "2", "3")

	wantLines(t, "restart", k.ok(t, "-n", ns, "rollout", "restart", "deployment/web"), "deployment.apps/web restarted")
	rolledOut()

	wantLines(t, "pause", k.ok(t, "-n", ns, "rollout", "pause", "deployment/web"), "deployment.apps/web paused")
	before := k.jsonpath(t, "{.items[*].metadata.name}", "-n", ns, "get", "rs", "-l", "app=web")
	k.ok(t, "-n", ns, "set", "image", "deployment/web", "web=registry.local/web:3.0")
	time.Sleep(2 * time.Second) // a paused deployment must not start a rollout in this time
	wantEqual(t, "replica sets while paused", k.jsonpath(t, "{.items[*].metadata.name}", "-n", ns, "get", "rs", "-l", "app=web"), before)
	wantLines(t, "resume", k.ok(t, "-n", ns, "rollout", "resume", "deployment/web"), "deployment.apps/web resumed")
	rolledOut()
	wantEqual(t, "image after resume", image(), "registry.local/web:3.0")
}

// stepProgressDeadline: an image that never starts stops the rollout at
// maxUnavailable and the deployment reports ProgressDeadlineExceeded.
func stepProgressDeadline(t *testing.T, k kubectl, ns string) {
	k.ok(t, "-n", ns, "patch", "deployment", "web", "--type=merge", "-p", `{"spec":{"progressDeadlineSeconds":5}}`)
	k.ok(t, "-n", ns, "set", "image", "deployment/web", "web="+brokenImage)
	r := k.run(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	if r.code == 0 || !strings.Contains(r.stderr, `deployment "web" exceeded its progress deadline`) {
		t.Fatalf("rollout status of a stuck rollout: %s", r)
	}
	// 5 replicas, maxUnavailable 25% (rounded down: 1): at least 4 stay available.
	wantEqual(t, "available replicas", k.jsonpath(t, "{.status.availableReplicas}", "-n", ns, "get", "deploy", "web"), "4")
	wantEqual(t, "Progressing reason", k.jsonpath(t, `{.status.conditions[?(@.type=="Progressing")].reason}`, "-n", ns, "get", "deploy", "web"), "ProgressDeadlineExceeded")
	k.ok(t, "-n", ns, "rollout", "undo", "deployment/web")
	k.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
}

func stepEndpoints(t *testing.T, k kubectl, ns string) {
	wantLines(t, "expose", k.ok(t, "-n", ns, "expose", "deployment", "web", "--port=80", "--target-port=8080"), "service/web exposed")
	waitUntil(t, "5 endpoints for web", func() bool {
		return len(strings.Fields(k.jsonpath(t, "{.subsets[*].addresses[*].ip}", "-n", ns, "get", "endpoints", "web"))) == 5
	})
	slice := k.jsonpath(t, "{.items[0].endpoints[*].conditions.ready}", "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web")
	wantEqual(t, "endpointslice ready conditions", slice, "true true true true true")
	wantEqual(t, "default service account", k.jsonpath(t, "{.metadata.name}", "-n", ns, "get", "serviceaccount", "default"), "default")
}

func stepJob(t *testing.T, k kubectl, ns string) {
	wantLines(t, "create job", k.ok(t, "-n", ns, "create", "job", "once", "--image=registry.local/tool:1.0", "--", "/bin/true"), "job.batch/once created")
	wantLines(t, "wait", k.ok(t, "-n", ns, "wait", "--for=condition=complete", "job/once", "--timeout=60s"), "job.batch/once condition met")
	checkTable(t, "get job", k.ok(t, "-n", ns, "get", "job", "once"), []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"}, []string{"once", "Complete", "1/1"})
}

func stepCronJob(t *testing.T, k kubectl, ns string) {
	wantLines(t, "create cronjob", k.ok(t, "-n", ns, "create", "cronjob", "tick", "--image=registry.local/tool:1.0", "--schedule=*/5 * * * *", "--", "/bin/true"), "cronjob.batch/tick created")
	checkTable(t, "get cronjob", k.ok(t, "-n", ns, "get", "cronjob", "tick"), []string{"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"}, []string{"tick", "*/5 * * * *", "<none>", "False", "0", "<none>"})
	wantLines(t, "job from cronjob", k.ok(t, "-n", ns, "create", "job", "manual", "--from=cronjob/tick"), "job.batch/manual created")
	k.ok(t, "-n", ns, "wait", "--for=condition=complete", "job/manual", "--timeout=60s")
}

const statefulSetManifest = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: registry.local/db:1.0
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
`

func stepStatefulSet(t *testing.T, k kubectl, ns string) {
	k.okStdin(t, statefulSetManifest, "-n", ns, "apply", "-f", "-")
	k.ok(t, "-n", ns, "rollout", "status", "statefulset/db", "--timeout=60s")
	wantEqual(t, "pods", k.jsonpath(t, "{.items[*].metadata.name}", "-n", ns, "get", "pods", "-l", "app=db"), "db-0 db-1")
	wantEqual(t, "claims", k.jsonpath(t, "{.items[*].metadata.name}", "-n", ns, "get", "pvc"), "data-db-0 data-db-1")
	k.ok(t, "-n", ns, "set", "image", "statefulset/db", "db=registry.local/db:2.0")
	k.ok(t, "-n", ns, "rollout", "status", "statefulset/db", "--timeout=60s")
	checkHistory(t, k.ok(t, "-n", ns, "rollout", "history", "statefulset/db"), "statefulset.apps/db", "1", "2")
}

const daemonSetManifest = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: registry.local/agent:1.0
`

func stepDaemonSet(t *testing.T, k kubectl, ns string) {
	k.okStdin(t, daemonSetManifest, "-n", ns, "apply", "-f", "-")
	wantContains(t, "rollout status", k.ok(t, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=60s"), `daemon set "agent" successfully rolled out`)
	nodes := strings.Fields(k.jsonpath(t, "{.items[*].spec.nodeName}", "-n", ns, "get", "pods", "-l", "app=agent"))
	if len(nodes) != 3 || nodes[0] == nodes[1] || nodes[1] == nodes[2] || nodes[0] == nodes[2] {
		t.Errorf("daemon pods on %v, want one on each of the 3 nodes", nodes)
	}
}

// stepDrain: cordon marks a node unschedulable; drain evicts its pods
// (daemon pods aside), which the deployment replaces on the other nodes.
func stepDrain(t *testing.T, k kubectl, ns string) {
	wantLines(t, "cordon", k.ok(t, "cordon", "node-a"), "node/node-a cordoned")
	checkTable(t, "get node", k.ok(t, "get", "node", "node-a"), []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}, []string{"node-a", "Ready,SchedulingDisabled"})
	out := k.ok(t, "drain", "node-a", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s")
	wantLines(t, "drain", out, "node/node-a drained")
	k.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	for _, node := range strings.Fields(k.jsonpath(t, "{.items[*].spec.nodeName}", "-n", ns, "get", "pods", "-l", "app=web")) {
		if node == "node-a" {
			t.Errorf("a web pod is still on the drained node")
		}
	}
	wantLines(t, "uncordon", k.ok(t, "uncordon", "node-a"), "node/node-a uncordoned")
}

// stepSchedulingFailure: a pod no node can hold stays Pending with
// upstream's explanation, and is scheduled once a node can hold it.
func stepSchedulingFailure(t *testing.T, k kubectl, ns string) {
	k.ok(t, "-n", ns, "run", "big", "--image=registry.local/web:1.0", "--overrides", `{"spec":{"nodeSelector":{"size":"huge"}}}`)
	waitUntil(t, "FailedScheduling", func() bool {
		return strings.Contains(k.ok(t, "-n", ns, "describe", "pod", "big"), "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
	})
	wantEqual(t, "PodScheduled", k.jsonpath(t, `{.status.conditions[?(@.type=="PodScheduled")].reason}`, "-n", ns, "get", "pod", "big"), "Unschedulable")
	k.ok(t, "label", "node", "node-b", "size=huge")
	waitUntil(t, "big scheduled on node-b", func() bool {
		return k.jsonpath(t, "{.spec.nodeName}", "-n", ns, "get", "pod", "big") == "node-b"
	})
}

// stepNodeFailure: a node whose kubelet stops heartbeating goes NotReady
// after the 40 s grace period and gets the unreachable taints.
func stepNodeFailure(t *testing.T, k kubectl, nodes *simNodes) {
	nodes.kill("node-c")
	deadline := time.Now().Add(90 * time.Second)
	for {
		out := k.ok(t, "get", "node", "node-c")
		taints := k.jsonpath(t, `{range .spec.taints[*]}{.key}:{.effect} {end}`, "get", "node", "node-c")
		if len(table(out)) > 1 && table(out)[1][1] == "NotReady" &&
			strings.Contains(taints, "node.kubernetes.io/unreachable:NoSchedule") && strings.Contains(taints, "node.kubernetes.io/unreachable:NoExecute") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-c after its kubelet stopped:\n%s\ntaints: %s", out, taints)
		}
		time.Sleep(time.Second)
	}
	wantEqual(t, "Ready reason", k.jsonpath(t, `{.status.conditions[?(@.type=="Ready")].reason}`, "get", "node", "node-c"), "NodeStatusUnknown")
}

func stepDeleteWorkloadNamespace(t *testing.T, k kubectl, ns string) {
	k.ok(t, "delete", "namespace", ns, "--timeout=60s")
	k.notFound(t, "namespace", ns)
}

// checkHistory asserts `kubectl rollout history` output: a title line,
// then the table of revisions, oldest first.
func checkHistory(t *testing.T, out, title string, revisions ...string) {
	t.Helper()
	ls := lines(out)
	if len(ls) < 2 || ls[0] != title {
		t.Fatalf("rollout history: want title %q, got:\n%s", title, out)
	}
	rows := table(strings.Join(ls[1:], "\n"))
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0])
	}
	if strings.Join(rows[0], " ") != "REVISION CHANGE-CAUSE" || strings.Join(got, " ") != strings.Join(revisions, " ") {
		t.Errorf("rollout history: want revisions %v, got:\n%s", revisions, out)
	}
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
