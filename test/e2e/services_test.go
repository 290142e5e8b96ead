package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// backendManifest is a Deployment of three busybox httpd pods; each serves
// its own name at /name and the client address it sees at /cgi-bin/ip.
const backendManifest = `
apiVersion: v1
kind: ConfigMap
metadata: {name: backend-cgi}
data:
  ip: |
    #!/bin/sh
    echo "Content-Type: text/plain"
    echo
    echo "$REMOTE_ADDR"
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend}
spec:
  replicas: 3
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: httpd
        image: ` + busyboxImage + `
        command: [sh, -c, "hostname > /www/name && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /name, port: http}
          periodSeconds: 1
        volumeMounts: [{name: cgi, mountPath: /www/cgi-bin}]
      volumes:
      - name: cgi
        configMap: {name: backend-cgi, defaultMode: 0755}
`

// stepServices checks the service proxy on both nodes (it runs after
// stepJoin): ClusterIP by name from a pod and by address from the node,
// NodePort from outside and from the node's localhost, LoadBalancer on the
// node addresses, session affinity,
// hairpin, a deleted backend no longer answered, a Service without
// endpoints refusing at once, externalTrafficPolicy Local, a UDP Service,
// and the kubernetes Service reaching the API server.
func stepServices(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	applyYAML(t, k, ns, backendManifest)
	k.ok(t, "-n", ns, "rollout", "status", "deployment/backend", "--timeout=55s")
	k.ok(t, "-n", ns, "expose", "deployment", "backend", "--port", "80", "--target-port", "8080")
	k.ok(t, "-n", ns, "run", "client", "--image="+busyboxImage, "--", "sleep", "3600")
	waitPod(t, k, ns, "client", "condition=Ready")
	backends := backendPods(t, k, ns)
	clusterIP := k.jsonpath(t, "{.spec.clusterIP}", "-n", ns, "get", "svc", "backend")

	// From a pod, by every name the search path allows: all three reached.
	for _, name := range []string{"backend", "backend." + ns, "backend." + ns + ".svc.cluster.local"} {
		reachesAll(t, "pod → http://"+name, backends, func() []string { return c.fromPod(t, ns, "client", name, "/name", 30) })
	}
	// From the node itself, by address.
	reachesAll(t, "node → "+clusterIP, backends, func() []string { return c.fromNode(t, "http://"+clusterIP+"/name", 30) })

	// NodePort: from outside the node, on both nodes' addresses, and from
	// the node's own localhost. Cluster policy masquerades the client.
	k.ok(t, "-n", ns, "expose", "deployment", "backend", "--name", "backend-np", "--type", "NodePort", "--port", "80", "--target-port", "8080")
	nodePort := k.jsonpath(t, "{.spec.ports[0].nodePort}", "-n", ns, "get", "svc", "backend-np")
	outsider := c.lab.subnet + ".1"
	for _, nodeIP := range []string{c.server.host, c.lab.subnet + ".12"} {
		url := "http://" + net.JoinHostPort(nodeIP, nodePort)
		reachesAll(t, "outside → "+url, backends, func() []string { return fromOutside(t, url+"/name", 30) })
		if seen, err := get(url+"/cgi-bin/ip", 3*time.Second); err != nil {
			t.Errorf("node port %s: %v", url, err)
		} else if clientAddr(seen) == outsider {
			t.Errorf("node port %s with cluster policy: backend saw the client address %s unmasqueraded", url, outsider)
		}
	}
	reachesAll(t, "node → localhost:"+nodePort, backends, func() []string { return c.fromNode(t, "http://127.0.0.1:"+nodePort+"/name", 30) })

	// LoadBalancer: ServiceLB publishes the nodes' addresses and every
	// node answers on them.
	k.ok(t, "-n", ns, "expose", "deployment", "backend", "--name", "backend-lb", "--type", "LoadBalancer", "--port", "8081", "--target-port", "8080")
	nodeIPs := []string{c.server.host, c.lab.subnet + ".12"}
	slices.Sort(nodeIPs)
	eventually(t, 20*time.Second, "LoadBalancer ingress", func() string {
		got := strings.Fields(k.jsonpath(t, "{.status.loadBalancer.ingress[*].ip}", "-n", ns, "get", "svc", "backend-lb"))
		if !slices.Equal(got, nodeIPs) {
			return fmt.Sprintf("ingress %v, want the node addresses %v", got, nodeIPs)
		}
		return ""
	})
	wantContains(t, "get svc backend-lb", k.ok(t, "-n", ns, "get", "svc", "backend-lb"), strings.Join(nodeIPs, ","))
	for _, ip := range nodeIPs {
		url := "http://" + net.JoinHostPort(ip, "8081")
		reachesAll(t, "outside → load balancer "+url, backends, func() []string { return fromOutside(t, url+"/name", 30) })
	}

	// ClientIP affinity: one client keeps one backend.
	applyYAML(t, k, ns, `
apiVersion: v1
kind: Service
metadata: {name: backend-sticky}
spec:
  selector: {app: backend}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: http}]
`)
	eventually(t, 20*time.Second, "session affinity", func() string {
		if got := c.fromPod(t, ns, "client", "backend-sticky", "/name", 20); len(distinct(got)) != 1 || !onlyFrom(got, backends) {
			return fmt.Sprintf("one client reached %v", distinct(got))
		}
		return ""
	})

	// Hairpin: a pod reaches itself through a Service that has only it.
	solo := backends[0]
	k.ok(t, "-n", ns, "label", "pod", solo, "solo=yes")
	applyYAML(t, k, ns, `
apiVersion: v1
kind: Service
metadata: {name: solo}
spec:
  selector: {solo: "yes"}
  ports: [{port: 80, targetPort: 8080}]
`)
	eventually(t, 20*time.Second, "hairpin", func() string {
		got := c.fromPod(t, ns, solo, "solo", "/name", 3)
		if slices.Equal(got, []string{solo, solo, solo}) {
			return ""
		}
		return fmt.Sprintf("%s through Service solo got %v", solo, got)
	})

	// A deleted backend is never answered once endpoints converge: every
	// request succeeds, from the pods that remain.
	gone := backends[1]
	goneIP := k.jsonpath(t, "{.status.podIP}", "-n", ns, "get", "pod", gone)
	k.ok(t, "-n", ns, "delete", "pod", gone, "--wait=true")
	eventually(t, 30*time.Second, "endpoints without "+gone, func() string {
		addrs := k.jsonpath(t, "{.items[*].endpoints[*].addresses[*]}", "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=backend")
		if slices.Contains(strings.Fields(addrs), goneIP) {
			return "still listed: " + addrs
		}
		return ""
	})
	k.ok(t, "-n", ns, "rollout", "status", "deployment/backend", "--timeout=55s")
	remaining := backendPods(t, k, ns)
	reachesAll(t, "traffic after the deletion", remaining, func() []string { return c.fromPod(t, ns, "client", "backend", "/name", 30) })
	if got := c.fromPod(t, ns, "client", "backend", "/name", 30); slices.Contains(got, gone) || !onlyFrom(got, remaining) {
		t.Errorf("after convergence: answers %v, want only %v (deleted %s)", distinct(got), remaining, gone)
	}

	// No endpoints: refused at once, not left to time out.
	applyYAML(t, k, ns, `
apiVersion: v1
kind: Service
metadata: {name: nothing}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
`)
	eventually(t, 20*time.Second, "a Service without endpoints refuses", func() string {
		r := k.run(t, "-n", ns, "exec", "client", "--", "timeout", "20", "wget", "-q", "-O-", "http://nothing/")
		if r.code != 0 && strings.Contains(r.stderr, "refused") {
			return ""
		}
		return r.String()
	})

	stepExternalLocal(t, c, ns, backendsByNode(t, k, ns))
	stepUDPService(t, c, ns)

	// The kubernetes Service reaches the API server.
	r := k.run(t, "-n", ns, "exec", "client", "--", "sh", "-c", "nc -w 5 kubernetes.default 443 </dev/null && echo connected")
	wantContains(t, "pod → kubernetes:443", r.stdout, "connected")
}

// stepExternalLocal checks externalTrafficPolicy: Local: a node answers
// only from its own backends, with the client's address kept, and a node
// without one drops the traffic.
func stepExternalLocal(t *testing.T, c *nodeCluster, ns string, byNode map[string][]string) {
	k := c.k
	applyYAML(t, k, ns, `
apiVersion: v1
kind: Service
metadata: {name: backend-local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: backend}
  ports: [{port: 80, targetPort: 8080}]
`)
	nodePort := k.jsonpath(t, "{.spec.ports[0].nodePort}", "-n", ns, "get", "svc", "backend-local")
	outsider := c.lab.subnet + ".1"
	nodes := map[string]string{"node-1": c.server.host, "node-12": c.lab.subnet + ".12"}
	// Nodes with local backends first: once they answer, the rules are in
	// place, so silence from the others means dropped, not not-yet-synced.
	names := []string{"node-1", "node-12"}
	slices.SortStableFunc(names, func(a, b string) int { return len(byNode[b]) - len(byNode[a]) })
	for _, node := range names {
		url := "http://" + net.JoinHostPort(nodes[node], nodePort)
		local := byNode[node]
		if len(local) == 0 {
			if body, err := get(url+"/name", 2*time.Second); err == nil {
				t.Errorf("%s has no local backend but %s answered %q", node, url, body)
			}
			continue
		}
		eventually(t, 20*time.Second, "Local policy on "+node, func() string {
			got := fromOutside(t, url+"/name", 10)
			if !onlyFrom(got, local) {
				return fmt.Sprintf("%s answered from %v, local backends %v", url, distinct(got), local)
			}
			return ""
		})
		if seen := clientAddr(fromOutside(t, url+"/cgi-bin/ip", 1)[0]); seen != outsider {
			t.Errorf("Local policy on %s: backend saw %s, want the client address %s", node, seen, outsider)
		}
	}
}

// stepUDPService sends DNS queries from a pod and from the node through a
// UDP Service whose endpoint is a DNS responder the test runs on the lab
// bridge, outside the cluster.
func stepUDPService(t *testing.T, c *nodeCluster, ns string) {
	k := c.k
	pc, err := net.ListenPacket("udp4", c.lab.subnet+".1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	server := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA && q.Name == "udp.e2e.test." {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.ParseIP("192.0.2.77")})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = server.ActivateAndServe() }()
	t.Cleanup(func() { _ = server.Shutdown() })

	applyYAML(t, k, ns, `
apiVersion: v1
kind: Service
metadata: {name: udp-dns}
spec:
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: `+strconv.Itoa(port)+`}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: udp-dns-1
  labels: {kubernetes.io/service-name: udp-dns}
addressType: IPv4
endpoints: [{addresses: [`+c.lab.subnet+`.1], conditions: {ready: true}}]
ports: [{name: dns, port: `+strconv.Itoa(port)+`, protocol: UDP}]
`)
	clusterIP := k.jsonpath(t, "{.spec.clusterIP}", "-n", ns, "get", "svc", "udp-dns")
	eventually(t, 20*time.Second, "UDP Service from a pod", func() string {
		r := k.run(t, "-n", ns, "exec", "client", "--", "nslookup", "-type=a", "udp.e2e.test", clusterIP)
		if strings.Contains(r.stdout, "192.0.2.77") {
			return ""
		}
		return r.String()
	})
	r := runCmd(t, 30*time.Second, nil, "", "nsenter", "--net=/run/netns/"+c.server.netns, "dig", "@"+clusterIP, "+short", "+time=2", "+tries=2", "udp.e2e.test", "A")
	wantEqual(t, "UDP Service from the node", strings.TrimSpace(r.stdout), "192.0.2.77")
}

// backendPods lists the running backend pods by name.
func backendPods(t *testing.T, k kubectl, ns string) []string {
	t.Helper()
	names := strings.Fields(k.jsonpath(t, "{.items[*].metadata.name}", "-n", ns, "get", "pods", "-l", "app=backend", "--field-selector", "status.phase=Running"))
	slices.Sort(names)
	return names
}

// backendsByNode maps each node to the backend pods it runs.
func backendsByNode(t *testing.T, k kubectl, ns string) map[string][]string {
	t.Helper()
	out := k.jsonpath(t, `{range .items[*]}{.spec.nodeName} {.metadata.name}{"\n"}{end}`, "-n", ns, "get", "pods", "-l", "app=backend", "--field-selector", "status.phase=Running")
	byNode := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if node, pod, ok := strings.Cut(line, " "); ok {
			byNode[node] = append(byNode[node], pod)
		}
	}
	return byNode
}

// fromPod fetches http://host/path n times with busybox wget inside pod,
// in one exec; a failed request is an "error: ..." line. The time limit is
// busybox's timeout applet: Debian's busybox-static wget crashes on -T.
func (c *nodeCluster) fromPod(t *testing.T, ns, pod, host, path string, n int) []string {
	t.Helper()
	script := fmt.Sprintf(`for i in $(seq %d); do timeout 3 wget -q -O- http://%s%s 2>&1 || echo "error: $?"; done`, n, host, path)
	return lines(c.k.ok(t, "-n", ns, "exec", pod, "--", "sh", "-c", script))
}

// fromNode fetches url n times from the first node's network namespace.
func (c *nodeCluster) fromNode(t *testing.T, url string, n int) []string {
	t.Helper()
	script := fmt.Sprintf(`for i in $(seq %d); do timeout 3 busybox wget -q -O- %s 2>&1 || echo "error: $?"; done`, n, url)
	r := runCmd(t, 60*time.Second, nil, "", "nsenter", "--net=/run/netns/"+c.server.netns, "sh", "-c", script)
	return lines(r.stdout)
}

// fromOutside fetches url n times from the test process, which sits on the
// lab bridge outside every node.
func fromOutside(t *testing.T, url string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		body, err := get(url, 3*time.Second)
		if err != nil {
			body = "error: " + err.Error()
		}
		out = append(out, body)
	}
	return out
}

func get(url string, timeout time.Duration) (string, error) {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}

// clientAddr is the address busybox httpd reports in REMOTE_ADDR, which it
// writes as a bracketed IPv4-mapped IPv6 address ("[::ffff:10.0.0.1]")
// since it listens on both families.
func clientAddr(remoteAddr string) string {
	return strings.TrimPrefix(strings.Trim(remoteAddr, "[]"), "::ffff:")
}

func distinct(answers []string) []string {
	out := slices.Clone(answers)
	slices.Sort(out)
	return slices.Compact(out)
}

// onlyFrom reports whether every answer names one of pods.
func onlyFrom(answers, pods []string) bool {
	for _, a := range answers {
		if !slices.Contains(pods, a) {
			return false
		}
	}
	return true
}

// reachesAll waits (bounded) until a round of requests is answered by
// backends only, each of them at least once: the proxy applies a change
// within about a second, so the first round may still miss it.
func reachesAll(t *testing.T, what string, backends []string, round func() []string) {
	t.Helper()
	eventually(t, 20*time.Second, what, func() string {
		answers := round()
		if onlyFrom(answers, backends) && slices.Equal(distinct(answers), backends) {
			return ""
		}
		return fmt.Sprintf("answers %v, want each of %v", distinct(answers), backends)
	})
}

// stepProxyCleanup runs `kite cleanup` in the second node's namespace while
// its agent runs: the Service rules go at once, and the proxy's periodic
// full sync (every minute) puts them back, as it repairs any tampering.
func stepProxyCleanup(t *testing.T, c *nodeCluster, ns string) {
	netns := c.lab.bridge + "-n12"
	inNode := func(argv ...string) string {
		r := runCmd(t, 60*time.Second, nil, "", append([]string{"nsenter", "--net=/run/netns/" + netns}, argv...)...)
		if r.code != 0 {
			t.Fatalf("%s in %s: %s", strings.Join(argv, " "), netns, r)
		}
		return r.stdout
	}
	wantContains(t, "kite cleanup", inNode(kiteBin, "cleanup"), "service proxy rules removed")
	if rules := inNode("iptables-save"); strings.Contains(rules, "KITE-SERVICES") || strings.Contains(rules, "KITE-SVC-") {
		t.Errorf("after kite cleanup the node still has Service rules:\n%s", rules)
	}
	if tables := inNode("nft", "list", "tables"); strings.Contains(tables, "kite-proxy") {
		t.Errorf("after kite cleanup nftables still has %s", tables)
	}
	nodePort := c.k.jsonpath(t, "{.spec.ports[0].nodePort}", "-n", ns, "get", "svc", "backend-np")
	url := "http://" + net.JoinHostPort(c.lab.subnet+".12", nodePort) + "/name"
	eventually(t, 90*time.Second, "Service rules restored by the full sync", func() string {
		if _, err := get(url, 2*time.Second); err != nil {
			return err.Error()
		}
		return ""
	})
	wantContains(t, "iptables-save after the full sync", inNode("iptables-save", "-t", "nat"), "-A PREROUTING -m comment --comment \"kite service portals\" -j KITE-SERVICES")
}
