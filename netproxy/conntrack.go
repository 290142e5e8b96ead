package netproxy

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

// ConntrackFlusher forgets UDP flows the new rules would not create, for
// either data path. UDP has no end of connection: a conntrack entry
// towards a removed endpoint, or one made while a service had none, keeps
// a client that sends steadily pinned to nowhere until it goes quiet.
type ConntrackFlusher struct {
	path string // "" without the conntrack program: flows then only age out
	ipv6 bool
	log  *slog.Logger
}

// NewConntrackFlusher uses the conntrack program at path, or the one in
// PATH when path is empty; without one it logs once and does nothing.
// One flusher handles one IP family.
func NewConntrackFlusher(path string, ipv6 bool, log *slog.Logger) *ConntrackFlusher {
	if log == nil {
		log = slog.Default()
	}
	if path == "" {
		found, err := exec.LookPath("conntrack")
		if err != nil {
			log.Warn("conntrack program not found; UDP flows to removed endpoints will only time out")
		}
		path = found
	}
	return &ConntrackFlusher{path: path, ipv6: ipv6, log: log}
}

// Path is the conntrack program in use, "" when none was found.
func (c *ConntrackFlusher) Path() string { return c.path }

// conntrackTimeout bounds one conntrack run.
const conntrackTimeout = 10 * time.Second

// ForgetStale deletes the flows prev → next leaves pointing where the
// rules no longer lead, for the UDP service ports among changed (all of
// them when changed is nil). Failures are logged: a flow left behind only
// times out.
func (c *ConntrackFlusher) ForgetStale(prev, next *State, changed map[ServicePortName]bool) {
	if c.path == "" || prev == nil {
		return
	}
	for _, args := range c.deletions(prev, next, changed) {
		ctx, cancel := context.WithTimeout(context.Background(), conntrackTimeout)
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, c.path, args...)
		cmd.Stderr = &stderr
		// conntrack exits 1 when no entry matched, which is no failure.
		if err := cmd.Run(); err != nil && !bytes.Contains(stderr.Bytes(), []byte("0 flow entries")) {
			c.log.Warn("conntrack failed", "args", args, "err", err, "stderr", strings.TrimSpace(stderr.String()))
		}
		cancel()
	}
}

// deletions lists the conntrack arguments ForgetStale runs.
func (c *ConntrackFlusher) deletions(prev, next *State, changed map[ServicePortName]bool) [][]string {
	names := changed
	if names == nil {
		names = map[ServicePortName]bool{}
		for n := range prev.Services {
			names[n] = true
		}
		for n := range next.Services {
			names[n] = true
		}
	}
	base := []string{"-D", "-p", "udp"}
	if c.ipv6 {
		base = append(base, "-f", "ipv6")
	}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	var out [][]string
	for n := range names {
		if n.Protocol != v1.ProtocolUDP {
			continue
		}
		old, cur := prev.Services[n], next.Services[n]
		before, after := c.reachable(old), c.reachable(cur)
		for ep := range before {
			if after[ep] {
				continue
			}
			for _, dst := range c.destinations(old) {
				out = append(out, with("--orig-dst", dst.String(), "--dst-nat", ep.String()))
			}
			if old.NodePort != 0 {
				out = append(out, with("--orig-port-dst", strconv.Itoa(int(old.NodePort)), "--dst-nat", ep.String()))
			}
		}
		if len(before) == 0 && len(after) > 0 {
			// Entries made while nothing answered were never translated.
			for _, dst := range c.destinations(cur) {
				out = append(out, with("--orig-dst", dst.String()))
			}
			if cur.NodePort != 0 {
				out = append(out, with("--orig-port-dst", strconv.Itoa(int(cur.NodePort))))
			}
		}
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(strings.Join(a, " "), strings.Join(b, " ")) })
	return out
}

func (c *ConntrackFlusher) has(a netip.Addr) bool { return a.Is6() == c.ipv6 }

// reachable is the set of endpoint addresses of this family the rules
// translate to.
func (c *ConntrackFlusher) reachable(sp *ServicePort) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if sp == nil {
		return out
	}
	for _, e := range append(sp.ClusterEndpoints(), sp.LocalEndpoints()...) {
		if c.has(e.IP) {
			out[e.IP] = true
		}
	}
	return out
}

func (c *ConntrackFlusher) destinations(sp *ServicePort) []netip.Addr {
	var out []netip.Addr
	for _, a := range slices.Concat(sp.ClusterIPs, sp.ExternalIPs, sp.LoadBalancerIPs) {
		if c.has(a) {
			out = append(out, a)
		}
	}
	return out
}
