package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEtcdctl runs the bundled etcdctl against the shared server's etcd.
// `kite etcdctl` finds the certificates and the etcd endpoint (the server
// runs on its own --etcd-client-port) through KITE_DATA_DIR alone.
func TestEtcdctl(t *testing.T) {
	s := shared(t)
	endpoint := "https://127.0.0.1:" + strconv.Itoa(s.etcdPort)
	env := []string{"KITE_DATA_DIR=" + s.dataDir}
	etcdctl := func(env []string, args ...string) result {
		t.Helper()
		return runCmd(t, 30*time.Second, env, "", append([]string{kiteBin, "etcdctl"}, args...)...)
	}
	ok := func(env []string, args ...string) string {
		t.Helper()
		r := etcdctl(env, args...)
		if r.code != 0 {
			t.Fatalf("kite etcdctl %s: %s", strings.Join(args, " "), r)
		}
		return r.stdout
	}

	keys := ok(env, "get", "/registry", "--prefix", "--keys-only")
	wantLines(t, "etcdctl get /registry --prefix --keys-only", keys,
		"/registry/namespaces/default", "/registry/namespaces/kube-system")
	for _, k := range lines(keys) {
		if !strings.HasPrefix(k, "/registry/") {
			t.Errorf("key outside /registry/: %q", k)
		}
	}

	members := lines(ok(env, "member", "list"))
	if len(members) != 1 {
		t.Fatalf("etcdctl member list: want one member, got %q", members)
	}
	fields := strings.Split(members[0], ", ")
	if len(fields) < 5 || fields[1] != "started" {
		t.Errorf("etcdctl member list: want a started member, got %q", members[0])
	}
	if !strings.Contains(members[0], strconv.Itoa(s.etcdPort)) {
		t.Errorf("etcdctl member list: client URL with port %d missing in %q", s.etcdPort, members[0])
	}

	// The endpoint as a flag instead of the environment.
	flagEnv := []string{"KITE_DATA_DIR=" + s.dataDir}
	health := etcdctl(flagEnv, "--endpoints", endpoint, "endpoint", "health")
	if health.code != 0 {
		t.Fatalf("kite etcdctl --endpoints ... endpoint health: %s", health)
	}
	wantContains(t, "endpoint health", health.stdout+health.stderr, endpoint+" is healthy")

	// Values are written by the API server: a configmap made through
	// kubectl is under its kube-apiserver key.
	k := bundledKubectl(t, s)
	k.ok(t, "create", "namespace", "e2e-etcd")
	k.ok(t, "-n", "e2e-etcd", "create", "configmap", "in-etcd", "--from-literal=k=v")
	wantEqual(t, "configmap key", strings.TrimSpace(ok(env, "get", "/registry/configmaps/e2e-etcd/in-etcd", "--keys-only")), "/registry/configmaps/e2e-etcd/in-etcd")
	rv := k.jsonpath(t, "{.metadata.resourceVersion}", "-n", "e2e-etcd", "get", "cm", "in-etcd")
	out := ok(env, "get", "/registry/configmaps/e2e-etcd/in-etcd", "-w", "fields")
	wantContains(t, "etcd mod revision is the resourceVersion", out, `"ModRevision" : `+rv+"\n")
}
