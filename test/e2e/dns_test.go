package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// clusterDNS is the cluster DNS address of the default --service-cidr.
const clusterDNS = "10.43.0.10"

// stepDNS checks the cluster DNS every node serves on the cluster DNS
// address: each record type of the Kubernetes DNS specification asked with
// dig on the node (TCP too), and names resolved from a pod through its
// resolv.conf. It uses the pod web of stepRun.
func stepDNS(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	k.ok(t, "-n", ns, "expose", "pod", "web", "--name", "web", "--port", "80", "--target-port", "8080")
	applyYAML(t, k, ns, `
apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {run: web}
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: db.example.invalid
`)
	clusterIP := k.jsonpath(t, "{.spec.clusterIP}", "-n", ns, "get", "svc", "web")
	podIP := k.jsonpath(t, "{.status.podIP}", "-n", ns, "get", "pod", "web")
	zone := "svc.cluster.local"
	dig := func(args ...string) string {
		argv := append([]string{"nsenter", "--net=/run/netns/" + c.server.netns, "dig", "@" + clusterDNS, "+time=2", "+tries=2"}, args...)
		r := runCmd(t, 30*time.Second, nil, "", argv...)
		if r.code != 0 {
			t.Errorf("dig %s: %s", strings.Join(args, " "), r)
		}
		return r.stdout
	}
	short := func(args ...string) string { return strings.TrimSpace(dig(append([]string{"+short"}, args...)...)) }

	// Answers follow the Services within a second or so.
	eventually(t, 10*time.Second, "A of the headless service", func() string {
		if got := short("web-headless." + ns + "." + zone); got != podIP {
			return fmt.Sprintf("web-headless A = %q, want %s", got, podIP)
		}
		return ""
	})
	for _, q := range []struct{ name, qtype, want string }{
		{"web." + ns + "." + zone, "A", clusterIP},
		{"_http._tcp.web-headless." + ns + "." + zone, "SRV", "0 100 8080 " + strings.ReplaceAll(podIP, ".", "-") + ".web-headless." + ns + "." + zone + "."},
		{"ext." + ns + "." + zone, "CNAME", "db.example.invalid."},
		{strings.ReplaceAll(podIP, ".", "-") + "." + ns + ".pod.cluster.local", "A", podIP},
		{"dns-version.cluster.local", "TXT", `"1.1.0"`},
	} {
		if got := short(q.name, q.qtype); got != q.want {
			t.Errorf("%s %s = %q, want %q", q.name, q.qtype, got, q.want)
		}
	}
	if got := short("-x", clusterIP); got != "web."+ns+"."+zone+"." {
		t.Errorf("PTR of %s = %q", clusterIP, got)
	}
	if got := short("+tcp", "web."+ns+"."+zone); got != clusterIP {
		t.Errorf("A over TCP = %q, want %s", got, clusterIP)
	}
	// A name that does not exist, and one that exists without the type
	// asked: NXDOMAIN and NODATA, each with the zone's SOA.
	nx := dig("nope." + ns + "." + zone)
	wantContains(t, "NXDOMAIN answer", nx, "status: NXDOMAIN", "flags: qr aa rd", "AUTHORITY: 1", "SOA")
	nodata := dig("web."+ns+"."+zone, "AAAA")
	wantContains(t, "NODATA answer", nodata, "status: NOERROR", "ANSWER: 0", "AUTHORITY: 1", "SOA")

	// From a pod: its resolv.conf points at the cluster DNS with the
	// search path, and names resolve through it.
	resolv := k.ok(t, "-n", ns, "exec", "web", "--", "cat", "/etc/resolv.conf")
	wantContains(t, "pod resolv.conf", resolv, "nameserver "+clusterDNS, "search "+ns+".svc.cluster.local svc.cluster.local cluster.local", "options ndots:5")
	for _, name := range []string{"web." + ns + "." + zone, "kubernetes.default.svc.cluster.local"} {
		out := k.ok(t, "-n", ns, "exec", "web", "--", "nslookup", name)
		want := clusterIP
		if strings.HasPrefix(name, "kubernetes.") {
			want = "10.43.0.1"
		}
		wantContains(t, "nslookup "+name+" in a pod", out, want)
	}
}
