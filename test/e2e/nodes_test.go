package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNodes runs real pods: `kite server` with its agent (kubelet over the
// embedded containerd, pod network) in a lab network namespace, driven by
// real kubectl from the host; then a second node joins with `kite agent`.
func TestNodes(t *testing.T) {
	t.Parallel()
	c := startNodeCluster(t)
	ns := "e2e-nodes"
	c.k.ok(t, "create", "namespace", ns)
	for _, step := range []struct {
		name string
		fn   func(t *testing.T, c *nodeCluster, ns string)
	}{
		{"node", stepNode},
		{"run", stepRun},
		{"lifecycle", stepLifecycle},
		{"crash-loop", stepCrashLoop},
		{"logs", stepLogs},
		{"exec", stepExec},
		{"attach", stepAttach},
		{"cp", stepCopy},
		{"port-forward", stepPortForward},
		{"dns", stepDNS},
		{"env", stepEnv},
		{"volumes", stepVolumes},
		{"probes", stepProbes},
		{"graceful-delete", stepGracefulDelete},
		{"static-pod", stepStaticPod},
		{"image-pull", stepImagePull},
		{"join", stepJoin},
		{"services", stepServices},
		{"proxy-cleanup", stepProxyCleanup},
		{"ingress", stepIngress},
	} {
		if !t.Run(step.name, func(t *testing.T) { step.fn(t, c, ns) }) && step.name == "run" {
			t.FailNow() // later steps use the pod of this one
		}
	}
}

// applyYAML applies a manifest given inline.
func applyYAML(t *testing.T, k kubectl, ns, manifest string) {
	t.Helper()
	k.okStdin(t, manifest, "-n", ns, "apply", "-f", "-")
}

// waitPod waits until the pod meets a kubectl wait condition.
func waitPod(t *testing.T, k kubectl, ns, pod, condition string) {
	t.Helper()
	// Within kubectl's own 60 s limit in runCmd.
	k.ok(t, "-n", ns, "wait", "--for="+condition, "pod/"+pod, "--timeout=55s")
}

// eventually retries check every half second for up to limit; check
// returns "" once satisfied, else what it saw.
func eventually(t *testing.T, limit time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		last := check()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s; last seen: %s", what, limit, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func stepNode(t *testing.T, c *nodeCluster, _ string) {
	describe := c.k.ok(t, "describe", "node", "node-1")
	wantContains(t, "describe node", describe,
		"node-role.kubernetes.io/control-plane", "kubernetes.io/hostname=node-1", "kubernetes.io/os=linux",
		"Capacity:", "Allocatable:", "cpu:", "memory:", "ephemeral-storage:", "pods:               110",
		"InternalIP:  "+c.server.host, "Hostname:    node-1",
		"Ready            True", "KubeletReady", "MemoryPressure   False", "DiskPressure     False",
		"Container Runtime Version:  containerd://2.4.2", "Kubelet Version:            v1.37.2+kite",
		"PodCIDR:                      10.42.")
	lease := c.k.jsonpath(t, "{.spec.holderIdentity}", "-n", "kube-node-lease", "get", "lease", "node-1")
	wantEqual(t, "node lease holder", lease, "node-1")
}

func stepRun(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	wantLines(t, "run", k.ok(t, "-n", ns, "run", "web", "--image="+busyboxImage, "--port=8080", "--", "httpd", "-f", "-p", "8080", "-h", "/etc"), "pod/web created")
	waitPod(t, k, ns, "web", "condition=Ready")
	wide := k.ok(t, "-n", ns, "get", "pod", "web", "-o", "wide")
	checkTable(t, "get -o wide", wide, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"}, []string{"web", "1/1", "Running", "0"})
	ip := k.jsonpath(t, "{.status.podIP}", "-n", ns, "get", "pod", "web")
	if !strings.HasPrefix(ip, "10.42.") || !strings.Contains(wide, ip) || !strings.Contains(wide, "node-1") {
		t.Errorf("pod IP %q should be in 10.42.0.0/16 and shown with node-1:\n%s", ip, wide)
	}
	status := k.getJSON(t, "-n", ns, "get", "pod", "web")["status"].(map[string]any)
	cs := status["containerStatuses"].([]any)[0].(map[string]any)
	if !strings.HasPrefix(fmt.Sprint(cs["containerID"]), "containerd://") || cs["ready"] != true || status["qosClass"] != "BestEffort" {
		t.Errorf("container status %v, qosClass %v", cs, status["qosClass"])
	}
	// The node itself (the host side of the pod network) reaches the pod.
	r := runCmd(t, 30*time.Second, nil, "", "ip", "netns", "exec", c.server.netns, "timeout", "10", "busybox", "wget", "-q", "-O-", "http://"+ip+":8080/hostname")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "web" {
		t.Errorf("node → pod: wget http://%s:8080/hostname:\n%s", ip, r)
	}
	events := k.ok(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=web")
	wantContains(t, "pod events", events, "Scheduled", "Pulled", "Created", "Started")
}

func stepLifecycle(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	k.ok(t, "-n", ns, "run", "ok", "--image="+busyboxImage, "--restart=Never", "--", "sh", "-c", "echo finished")
	k.ok(t, "-n", ns, "run", "fail", "--image="+busyboxImage, "--restart=Never", "--", "sh", "-c", "exit 3")
	waitPod(t, k, ns, "ok", "jsonpath={.status.phase}=Succeeded")
	waitPod(t, k, ns, "fail", "jsonpath={.status.phase}=Failed")
	wantEqual(t, "exit code", k.jsonpath(t, "{.status.containerStatuses[0].state.terminated.exitCode}", "-n", ns, "get", "pod", "fail"), "3")
	wantEqual(t, "reason", k.jsonpath(t, "{.status.containerStatuses[0].state.terminated.reason}", "-n", ns, "get", "pod", "fail"), "Error")
	wantEqual(t, "logs of a finished pod", strings.TrimSpace(k.ok(t, "-n", ns, "logs", "ok")), "finished")
	checkTable(t, "get", k.ok(t, "-n", ns, "get", "pod", "ok"), []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, []string{"ok", "0/1", "Completed", "0"})
}

func stepCrashLoop(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	k.ok(t, "-n", ns, "run", "crash", "--image="+busyboxImage, "--", "sh", "-c", "echo crashing; exit 1")
	eventually(t, 90*time.Second, "CrashLoopBackOff", func() string {
		got := k.jsonpath(t, "{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.waiting.reason}", "-n", ns, "get", "pod", "crash")
		if n, _ := strconv.Atoi(strings.Fields(got + " 0")[0]); n >= 1 && strings.HasSuffix(got, "CrashLoopBackOff") {
			return ""
		}
		return got
	})
	wantEqual(t, "last state", k.jsonpath(t, "{.status.containerStatuses[0].lastState.terminated.exitCode}", "-n", ns, "get", "pod", "crash"), "1")
	wantEqual(t, "logs --previous", strings.TrimSpace(k.ok(t, "-n", ns, "logs", "crash", "--previous")), "crashing")
	wantContains(t, "describe", k.ok(t, "-n", ns, "describe", "pod", "crash"), "Back-off restarting failed container")
	k.ok(t, "-n", ns, "delete", "pod", "crash", "--wait=false")
}

func stepLogs(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	applyYAML(t, k, ns, `apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  restartPolicy: Never
  containers:
  - name: one
    image: `+busyboxImage+`
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo one-$i; done; sleep 3; echo late']
  - name: two
    image: `+busyboxImage+`
    command: [sh, -c, 'echo two-out; echo two-err >&2']
`)
	waitPod(t, k, ns, "talk", "jsonpath={.status.phase}=Succeeded")
	wantExactLines(t, "logs -c one --tail=2", k.ok(t, "-n", ns, "logs", "talk", "-c", "one", "--tail=2"), "one-5", "late")
	wantExactLines(t, "logs -c two", k.ok(t, "-n", ns, "logs", "talk", "-c", "two"), "two-out", "two-err")
	// kubectl picks the first container itself and says so.
	r := k.run(t, "-n", ns, "logs", "talk", "--tail=1")
	if r.code != 0 || r.stdout != "late\n" || !strings.Contains(r.stderr, `Defaulted container "one" out of: one, two`) {
		t.Errorf("logs without -c of a two-container pod:\n%s", r)
	}
	stamped := k.ok(t, "-n", ns, "logs", "talk", "-c", "one", "--timestamps", "--tail=1")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z late\n$`).MatchString(stamped) {
		t.Errorf("logs --timestamps: %q", stamped)
	}
	wantExactLines(t, "logs --since=1h", k.ok(t, "-n", ns, "logs", "talk", "-c", "two", "--since=1h"), "two-out", "two-err")

	// -f follows until the container ends.
	k.ok(t, "-n", ns, "run", "ticker", "--image="+busyboxImage, "--restart=Never", "--", "sh", "-c", "for i in 1 2 3; do echo tick-$i; sleep 1; done")
	waitPod(t, k, ns, "ticker", "condition=Ready")
	wantExactLines(t, "logs -f", k.ok(t, "-n", ns, "logs", "-f", "ticker"), "tick-1", "tick-2", "tick-3")
}

func stepExec(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	wantEqual(t, "exec", strings.TrimSpace(k.ok(t, "-n", ns, "exec", "web", "--", "cat", "/etc/hostname")), "web")
	r := k.run(t, "-n", ns, "exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
	if r.code != 7 || strings.TrimSpace(r.stdout) != "out" || !strings.Contains(r.stderr, "err") {
		t.Errorf("exec exit code and streams:\n%s", r)
	}
	wantEqual(t, "exec -i", k.okStdin(t, "from stdin\n", "-n", ns, "exec", "-i", "web", "--", "cat"), "from stdin\n")
	// -t needs a terminal on kubectl's side: script(1) gives it one.
	cmd := strings.Join(k.command("-n", ns, "exec", "-it", "web", "--", "sh", "-c", "tty; stty size"), " ")
	out := runCmd(t, 60*time.Second, nil, "", "script", "-qec", cmd, "/dev/null")
	if out.code != 0 || !strings.Contains(out.stdout, "/dev/pts/") {
		t.Errorf("exec -it should give the process a terminal:\n%s", out)
	}
	r = k.run(t, "-n", ns, "exec", "web", "--", "no-such-command")
	if r.code == 0 {
		t.Errorf("exec of a missing command succeeded:\n%s", r)
	}
}

func stepAttach(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	applyYAML(t, k, ns, `apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  containers:
  - name: reader
    image: `+busyboxImage+`
    stdin: true
    stdinOnce: true
    command: [sh, -c, 'read line; echo got:$line']
`)
	waitPod(t, k, ns, "reader", "condition=Ready")
	out := k.okStdin(t, "hello\n", "-n", ns, "attach", "-i", "reader")
	wantContains(t, "attach -i", out, "got:hello")
	waitPod(t, k, ns, "reader", "jsonpath={.status.phase}=Succeeded")
}

func stepCopy(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	dir := t.TempDir()
	local := filepath.Join(dir, "in.txt")
	writeFileAt(t, local, "copied in\n")
	k.ok(t, "-n", ns, "cp", local, "web:/tmp/in.txt")
	wantEqual(t, "file in pod", k.ok(t, "-n", ns, "exec", "web", "--", "cat", "/tmp/in.txt"), "copied in\n")
	k.ok(t, "-n", ns, "exec", "web", "--", "sh", "-c", "echo copied out > /tmp/out.txt")
	back := filepath.Join(dir, "out.txt")
	k.ok(t, "-n", ns, "cp", "web:/tmp/out.txt", back)
	data, err := os.ReadFile(back)
	if err != nil || string(data) != "copied out\n" {
		t.Errorf("kubectl cp from the pod: %q, %v", data, err)
	}
}

func stepPortForward(t *testing.T, c *nodeCluster, ns string) {
	port := freePorts(t, 1)[0]
	cmd := exec.Command(kiteBin, c.k.command("-n", ns, "port-forward", "pod/web", fmt.Sprintf("%d:8080", port))[1:]...)
	cmd.Env = cleanEnv()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	client := &http.Client{Timeout: 5 * time.Second}
	eventually(t, 30*time.Second, "port-forward", func() string {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", port))
		if err != nil {
			return err.Error() + "; kubectl: " + out.String()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(body)) != "web" {
			return fmt.Sprintf("%d %q", resp.StatusCode, body)
		}
		return ""
	})
}

func stepEnv(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	k.ok(t, "-n", ns, "create", "configmap", "settings", "--from-literal=color=blue", "--from-literal=size=L")
	k.ok(t, "-n", ns, "create", "secret", "generic", "creds", "--from-literal=password=s3cret")
	applyYAML(t, k, ns, `apiVersion: v1
kind: Pod
metadata: {name: env, labels: {app: env}}
spec:
  restartPolicy: Never
  containers:
  - name: env
    image: `+busyboxImage+`
    command: [sh, -c, env]
    workingDir: /tmp
    resources: {limits: {memory: 64Mi, cpu: 500m}, requests: {memory: 32Mi, cpu: 250m}}
    env:
    - {name: PLAIN, value: plain}
    - {name: EXPANDED, value: "$(PLAIN)-x"}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: MEM_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_REQUEST, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
    - {name: COLOR, valueFrom: {configMapKeyRef: {name: settings, key: color}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    envFrom:
    - {configMapRef: {name: settings}, prefix: CM_}
`)
	waitPod(t, k, ns, "env", "jsonpath={.status.phase}=Succeeded")
	got := map[string]string{}
	for _, l := range lines(k.ok(t, "-n", ns, "logs", "env")) {
		if key, value, ok := strings.Cut(l, "="); ok {
			got[key] = value
		}
	}
	ip := k.jsonpath(t, "{.status.podIP}", "-n", ns, "get", "pod", "env")
	for key, want := range map[string]string{
		"PLAIN": "plain", "EXPANDED": "plain-x", "POD_NAME": "env", "POD_IP": ip, "NODE": "node-1", "APP": "env",
		"MEM_LIMIT": "64", "CPU_REQUEST": "250", "COLOR": "blue", "PASSWORD": "s3cret", "CM_color": "blue", "CM_size": "L",
		"PWD": "/tmp", "KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443",
	} {
		if got[key] != want {
			t.Errorf("env %s = %q, want %q", key, got[key], want)
		}
	}
	wantEqual(t, "qosClass", k.jsonpath(t, "{.status.qosClass}", "-n", ns, "get", "pod", "env"), "Burstable")

	// A missing key is the container's error, shown as upstream does.
	k.ok(t, "-n", ns, "run", "badenv", "--image="+busyboxImage, "--restart=Never", "--overrides",
		`{"spec":{"containers":[{"name":"badenv","image":"`+busyboxImage+`","command":["true"],"env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"settings","key":"nope"}}}]}]}}`)
	eventually(t, 60*time.Second, "CreateContainerConfigError", func() string {
		got := k.jsonpath(t, "{.status.containerStatuses[0].state.waiting.reason}", "-n", ns, "get", "pod", "badenv")
		if got == "CreateContainerConfigError" {
			return ""
		}
		return got
	})
}

func stepVolumes(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	hostDir := t.TempDir()
	writeFileAt(t, filepath.Join(hostDir, "from-host"), "host file\n")
	pvDir := t.TempDir()
	writeFileAt(t, filepath.Join(pvDir, "from-pv"), "pv file\n")
	applyYAML(t, k, "", `apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-nodes-pv}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {path: `+pvDir+`}
`)
	applyYAML(t, k, ns, `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  volumeName: e2e-nodes-pv
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {tier: test}, annotations: {note: hello}}
spec:
  containers:
  - name: main
    image: `+busyboxImage+`
    command: [sleep, "3600"]
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: mem, mountPath: /mem}
    - {name: host, mountPath: /host}
    - {name: cm, mountPath: /cm}
    - {name: secret, mountPath: /secret}
    - {name: info, mountPath: /info}
    - {name: token, mountPath: /token}
    - {name: data, mountPath: /data}
    - {name: cm, mountPath: /one/color.txt, subPath: color}
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory}}
  - {name: host, hostPath: {path: `+hostDir+`, type: Directory}}
  - {name: cm, configMap: {name: settings}}
  - {name: secret, secret: {secretName: creds, defaultMode: 0400}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
  - name: token
    projected:
      sources:
      - serviceAccountToken: {audience: e2e-audience, expirationSeconds: 3600, path: token}
      - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
  - {name: data, persistentVolumeClaim: {claimName: claim}}
`)
	waitPod(t, k, ns, "vols", "condition=Ready")
	sh := func(script string) string {
		t.Helper()
		return k.ok(t, "-n", ns, "exec", "vols", "--", "sh", "-c", script)
	}
	mounts := sh("cat /proc/mounts")
	if !regexp.MustCompile(`(?m)^\S+ /mem tmpfs `).MatchString(mounts) {
		t.Errorf("emptyDir medium Memory is not a tmpfs:\n%s", mounts)
	}
	wantEqual(t, "emptyDir writable", sh("echo x > /scratch/f && cat /scratch/f"), "x\n")
	wantEqual(t, "hostPath", sh("cat /host/from-host"), "host file\n")
	wantEqual(t, "configMap", sh("cat /cm/color"), "blue")
	wantEqual(t, "configMap subPath", sh("cat /one/color.txt"), "blue")
	wantEqual(t, "secret", sh("cat /secret/password"), "s3cret")
	wantEqual(t, "secret mode", sh("stat -L -c %a /secret/password"), "400\n")
	wantEqual(t, "downwardAPI", sh("cat /info/name"), "vols")
	wantContains(t, "downwardAPI labels", sh("cat /info/labels"), `tier="test"`)
	wantEqual(t, "PVC", sh("cat /data/from-pv"), "pv file\n")
	wantContains(t, "kube-root-ca.crt", sh("cat /token/ca.crt"), "BEGIN CERTIFICATE")
	claims := jwtClaims(t, sh("cat /token/token"))
	if aud := fmt.Sprint(claims["aud"]); !strings.Contains(aud, "e2e-audience") {
		t.Errorf("token audience %v, want e2e-audience", claims["aud"])
	}
	if sub := fmt.Sprint(claims["sub"]); sub != "system:serviceaccount:"+ns+":default" {
		t.Errorf("token subject %q", sub)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("token lifetime %v s, want 3600", exp-iat)
	}
	// The default service account token volume is there too.
	wantContains(t, "service account namespace", sh("cat /var/run/secrets/kubernetes.io/serviceaccount/namespace"), ns)

	// configMaps update in place.
	k.okStdin(t, `{"data":{"color":"green"}}`, "-n", ns, "patch", "configmap", "settings", "--type=merge", "--patch-file=/dev/stdin")
	eventually(t, 120*time.Second, "configMap update in the pod", func() string {
		if got := sh("cat /cm/color"); got != "green" {
			return got
		}
		return ""
	})
	// A write into the PV is on the host.
	sh("echo written > /data/by-pod")
	if data, err := os.ReadFile(filepath.Join(pvDir, "by-pod")); err != nil || string(data) != "written\n" {
		t.Errorf("file written to the PV: %q, %v", data, err)
	}
	k.ok(t, "-n", ns, "delete", "pod", "vols", "--timeout=60s")
	k.ok(t, "-n", ns, "delete", "pvc", "claim")
	k.ok(t, "delete", "pv", "e2e-nodes-pv")
}

// jwtClaims decodes (without verifying) the claims of a JWT.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func stepProbes(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	applyYAML(t, k, ns, `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: web
    image: `+busyboxImage+`
    command: [sh, -c, 'mkdir -p /www && touch /tmp/alive && exec httpd -f -p 8080 -h /www']
    startupProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, failureThreshold: 30}
    readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}
    livenessProbe: {exec: {command: [test, -f, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}
`)
	waitPod(t, k, ns, "probed", "jsonpath={.status.phase}=Running")
	// /ready is missing: running but not ready.
	time.Sleep(3 * time.Second)
	wantEqual(t, "not ready", k.jsonpath(t, "{.status.containerStatuses[0].ready}", "-n", ns, "get", "pod", "probed"), "false")
	k.ok(t, "-n", ns, "exec", "probed", "--", "touch", "/www/ready")
	waitPod(t, k, ns, "probed", "condition=Ready")
	// Liveness fails: the container is restarted.
	k.ok(t, "-n", ns, "exec", "probed", "--", "rm", "/tmp/alive")
	eventually(t, 60*time.Second, "restart after liveness failure", func() string {
		if got := k.jsonpath(t, "{.status.containerStatuses[0].restartCount}", "-n", ns, "get", "pod", "probed"); got != "0" {
			return ""
		}
		return "restartCount 0"
	})
	wantContains(t, "events", k.ok(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=probed"), "Unhealthy", "failed liveness probe, will be restarted")
	k.ok(t, "-n", ns, "delete", "pod", "probed", "--wait=false")
}

func stepGracefulDelete(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	hostDir := t.TempDir()
	applyYAML(t, k, ns, `apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: main
    image: `+busyboxImage+`
    command: [sh, -c, 'trap "echo term > /out/got-term; sleep 2; echo done > /out/finished; exit 0" TERM; while true; do sleep 0.2; done']
    lifecycle:
      preStop: {exec: {command: [sh, -c, 'echo prestop > /out/prestop']}}
    volumeMounts: [{name: out, mountPath: /out}]
  volumes: [{name: out, hostPath: {path: `+hostDir+`}}]
`)
	waitPod(t, k, ns, "graceful", "condition=Ready")
	start := time.Now()
	k.ok(t, "-n", ns, "delete", "pod", "graceful", "--timeout=60s")
	took := time.Since(start)
	for _, f := range []string{"prestop", "got-term", "finished"} {
		if _, err := os.Stat(filepath.Join(hostDir, f)); err != nil {
			t.Errorf("after graceful deletion (%s): %v", took, err)
		}
	}
	if took > 25*time.Second {
		t.Errorf("deletion took %s: the container exited after its TERM handler, the kubelet should not wait out the grace period", took)
	}
	k.notFound(t, "-n", ns, "pod", "graceful")
}

func stepStaticPod(t *testing.T, c *nodeCluster, _ string) {
	dir := filepath.Join(c.server.dataDir, "agent", "pod-manifests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileAt(t, filepath.Join(dir, "static.yaml"), `apiVersion: v1
kind: Pod
metadata: {name: static-web, namespace: default}
spec:
  containers:
  - name: web
    image: `+busyboxImage+`
    command: [sleep, "3600"]
`)
	eventually(t, 60*time.Second, "mirror pod created", func() string {
		if r := c.k.run(t, "-n", "default", "get", "pod", "static-web-node-1"); r.code != 0 {
			return r.stderr
		}
		return ""
	})
	waitPod(t, c.k, "default", "static-web-node-1", "condition=Ready")
	if c.k.jsonpath(t, "{.metadata.annotations.kubernetes\\.io/config\\.mirror}", "-n", "default", "get", "pod", "static-web-node-1") == "" {
		t.Error("the mirror pod has no kubernetes.io/config.mirror annotation")
	}
	if err := os.Remove(filepath.Join(dir, "static.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "mirror pod removed with its manifest", func() string {
		if r := c.k.run(t, "-n", "default", "get", "pod", "static-web-node-1"); r.code == 0 {
			return r.stdout
		}
		return ""
	})
}

func stepJoin(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	// A wrong token is refused and no node appears.
	hash, _, _ := strings.Cut(c.token(t), "::")
	bad := c.startAgent(t, 13, hash+"::server:wrong")
	if code, err := bad.waitExit(60 * time.Second); err != nil || code == 0 {
		t.Errorf("agent with a wrong token: exit %d, %v", code, err)
	}
	if log, _ := os.ReadFile(bad.logPath); !strings.Contains(string(log), "the server refused the join token (check --token)") {
		t.Errorf("agent with a wrong token should say so:\n%s", log)
	}
	k.notFound(t, "node", "node-13")

	c.startAgent(t, 12, c.token(t))
	c.waitNodeReady(t, "node-12")
	for _, node := range []string{"node-1", "node-12"} {
		applyYAML(t, k, ns, `apiVersion: v1
kind: Pod
metadata: {name: on-`+node+`}
spec:
  nodeName: `+node+`
  containers:
  - name: web
    image: `+busyboxImage+`
    command: [httpd, -f, -p, "8080", -h, /etc]
`)
	}
	waitPod(t, k, ns, "on-node-1", "condition=Ready")
	waitPod(t, k, ns, "on-node-12", "condition=Ready")
	ip1 := k.jsonpath(t, "{.status.podIP}", "-n", ns, "get", "pod", "on-node-1")
	ip12 := k.jsonpath(t, "{.status.podIP}", "-n", ns, "get", "pod", "on-node-12")
	if ip1[:strings.LastIndex(ip1, ".")] == ip12[:strings.LastIndex(ip12, ".")] {
		t.Errorf("pods on two nodes share a /24: %s and %s", ip1, ip12)
	}
	wantEqual(t, "node-1 → node-12", strings.TrimSpace(k.ok(t, "-n", ns, "exec", "on-node-1", "--", "wget", "-q", "-O-", "http://"+ip12+":8080/hostname")), "on-node-12")
	wantEqual(t, "node-12 → node-1", strings.TrimSpace(k.ok(t, "-n", ns, "exec", "on-node-12", "--", "wget", "-q", "-O-", "http://"+ip1+":8080/hostname")), "on-node-1")
	// Logs and exec work on the joined node too (API server → its kubelet).
	wantContains(t, "describe node-12", k.ok(t, "describe", "node", "node-12"), "InternalIP:  "+c.lab.subnet+".12")
}

func stepImagePull(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	open := c.openRegistry + "/e2e/busybox:1.0"
	private := c.privateRegistry + "/e2e/busybox:1.0"
	k.ok(t, "-n", ns, "run", "pulled", "--image="+open, "--image-pull-policy=Always", "--", "sleep", "3600")
	waitPod(t, k, ns, "pulled", "condition=Ready")
	wantContains(t, "events", k.ok(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=pulled"), "Pulling", `Successfully pulled image "`+open+`"`)

	// Without credentials the private registry refuses: ErrImagePull, then
	// ImagePullBackOff, with the registry's reason.
	k.ok(t, "-n", ns, "run", "denied", "--image="+private, "--", "sleep", "3600")
	eventually(t, 60*time.Second, "ImagePullBackOff with the registry's reason", func() string {
		got := k.jsonpath(t, "{.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}", "-n", ns, "get", "pod", "denied")
		if strings.HasPrefix(got, "ImagePullBackOff: ") && strings.Contains(got, "authorization failed") {
			return ""
		}
		return got
	})
	k.ok(t, "-n", ns, "delete", "pod", "denied", "--wait=false")

	// With an image pull secret it works.
	k.ok(t, "-n", ns, "create", "secret", "docker-registry", "regcred", "--docker-server="+c.privateRegistry, "--docker-username=kite", "--docker-password=s3cret")
	k.ok(t, "-n", ns, "run", "allowed", "--image="+private, "--overrides", `{"spec":{"imagePullSecrets":[{"name":"regcred"}]}}`, "--", "sleep", "3600")
	waitPod(t, k, ns, "allowed", "condition=Ready")
}
