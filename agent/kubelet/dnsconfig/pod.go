package dnsconfig

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Cluster is the node's DNS setup: the cluster DNS server addresses, the
// cluster domain, and the path of the host's resolv.conf (empty for none).
type Cluster struct {
	DNS            []string
	Domain         string
	HostResolvConf string
}

// Limits the resolver (glibc) and API validation put on a resolv.conf.
const (
	maxNameservers    = 3
	maxSearches       = 32
	maxSearchLineLen  = 2048
	maxSearchEntryLen = 253
)

// clusterOptions are the options of a ClusterFirst pod: ndots:5 makes
// "svc.ns" and "svc" try the cluster search domains before the root.
var clusterOptions = []string{"ndots:5"}

// Warning is something a user should see as a pod event; Reason is the
// upstream event reason.
type Warning struct {
	Reason  string
	Message string
}

// ForPod is ForPodWithWarnings with the warnings logged.
func ForPod(pod *v1.Pod, c Cluster) (*runtimeapi.DNSConfig, error) {
	cfg, warnings, err := ForPodWithWarnings(pod, c)
	for _, w := range warnings {
		slog.LogAttrs(context.Background(), slog.LevelWarn, w.Message,
			slog.String("component", "kubelet"), slog.String("reason", w.Reason),
			slog.String("pod", pod.Namespace+"/"+pod.Name))
	}
	return cfg, err
}

// ForPodWithWarnings computes the resolver configuration of pod by its
// dnsPolicy:
//   - ClusterFirst (not host network) and ClusterFirstWithHostNet: the
//     cluster DNS servers, searches <ns>.svc.<domain> svc.<domain> <domain>
//     then the host's, option ndots:5;
//   - Default (and ClusterFirst on the host network): the host's resolver;
//   - None: nothing but the pod's dnsConfig.
//
// The pod's dnsConfig is then merged in (servers and searches appended
// without duplicates, options overriding by name) and the result cut to
// what resolvers accept (3 servers, 32 searches of at most 253 characters,
// a 2048-character search line), with a warning when something was cut.
//
// Pods off the host network cannot reach the host's loopback, so loopback
// nameservers of the host (systemd-resolved's 127.0.0.53, dnsmasq) are
// dropped for them, falling back to the cluster DNS servers, which forward
// to the host's upstreams.
func ForPodWithWarnings(pod *v1.Pod, c Cluster) (*runtimeapi.DNSConfig, []Warning, error) {
	var warnings []Warning
	host, err := readResolvConf(c.HostResolvConf)
	if err != nil {
		return nil, nil, err
	}

	policy := pod.Spec.DNSPolicy
	switch policy {
	case v1.DNSClusterFirst, v1.DNSClusterFirstWithHostNet, v1.DNSDefault, v1.DNSNone:
	case "":
		policy = v1.DNSClusterFirst
	default:
		warnings = append(warnings, Warning{Reason: "DNSConfigForming",
			Message: fmt.Sprintf("invalid DNSPolicy=%v; falling back to %q policy", policy, v1.DNSClusterFirst)})
		policy = v1.DNSClusterFirst
	}
	useCluster := policy == v1.DNSClusterFirstWithHostNet || (policy == v1.DNSClusterFirst && !pod.Spec.HostNetwork)
	if useCluster && len(c.DNS) == 0 {
		warnings = append(warnings, Warning{Reason: "MissingClusterDNS", Message: fmt.Sprintf(
			"kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.",
			v1.DNSClusterFirst, v1.DNSDefault)})
		useCluster = false
	}

	cfg := &runtimeapi.DNSConfig{}
	switch {
	case policy == v1.DNSNone:
	case useCluster:
		cfg.Servers = append([]string(nil), c.DNS...)
		cfg.Searches = host.searches
		if c.Domain != "" {
			cfg.Searches = append([]string{pod.Namespace + ".svc." + c.Domain, "svc." + c.Domain, c.Domain}, host.searches...)
		}
		cfg.Options = append([]string(nil), clusterOptions...)
	default:
		cfg.Servers, cfg.Searches, cfg.Options = host.nameservers, host.searches, host.options
		if c.HostResolvConf == "" {
			// No host resolver: point at the local one, which disables
			// lookups, as the kubelet does with an empty --resolv-conf.
			cfg.Servers, cfg.Searches = []string{"127.0.0.1"}, []string{"."}
		}
		if !pod.Spec.HostNetwork {
			cfg.Servers, warnings = reachableFromPod(cfg.Servers, c.DNS, warnings)
		}
	}

	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = append(cfg.Servers, dc.Nameservers...)
		cfg.Searches = append(cfg.Searches, dc.Searches...)
		cfg.Options = mergeOptions(cfg.Options, podOptions(dc.Options))
	}
	cfg.Servers = withoutDuplicates(cfg.Servers)
	cfg.Searches = withoutDuplicates(cfg.Searches)

	if len(cfg.Servers) > maxNameservers {
		cfg.Servers = cfg.Servers[:maxNameservers]
		warnings = append(warnings, Warning{Reason: "DNSConfigForming", Message: fmt.Sprintf(
			"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s",
			strings.Join(cfg.Servers, " "))})
	}
	var cut bool
	cfg.Searches, cut = fitSearches(cfg.Searches)
	if cut {
		warnings = append(warnings, Warning{Reason: "DNSConfigForming", Message: fmt.Sprintf(
			"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: %s",
			strings.Join(cfg.Searches, " "))})
	}
	return cfg, warnings, nil
}

// reachableFromPod drops loopback nameservers, which inside a pod's network
// namespace would be the pod itself; with none left it uses the cluster DNS.
func reachableFromPod(servers, clusterDNS []string, warnings []Warning) ([]string, []Warning) {
	var kept, dropped []string
	for _, s := range servers {
		if addr, err := netip.ParseAddr(s); err == nil && addr.IsLoopback() {
			dropped = append(dropped, s)
			continue
		}
		kept = append(kept, s)
	}
	if len(dropped) == 0 {
		return servers, warnings
	}
	msg := fmt.Sprintf("host nameservers %s are loopback addresses a pod cannot reach; omitted", strings.Join(dropped, " "))
	if len(kept) == 0 && len(clusterDNS) > 0 {
		kept = append(kept, clusterDNS...)
		msg += fmt.Sprintf("; using the cluster DNS %s instead", strings.Join(clusterDNS, " "))
	}
	return kept, append(warnings, Warning{Reason: "DNSConfigForming", Message: msg})
}

func podOptions(opts []v1.PodDNSConfigOption) []string {
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		if o.Value != nil && *o.Value != "" {
			out = append(out, o.Name+":"+*o.Value)
		} else {
			out = append(out, o.Name)
		}
	}
	return out
}

// fitSearches keeps at most 32 searches, drops entries glibc would choke on
// (longer than a DNS name) and cuts from the end until the search line fits
// in 2048 characters.
func fitSearches(searches []string) ([]string, bool) {
	cut := false
	if len(searches) > maxSearches {
		searches, cut = searches[:maxSearches], true
	}
	kept := searches[:0:0]
	for _, s := range searches {
		if len(s) > maxSearchEntryLen {
			cut = true
			continue
		}
		kept = append(kept, s)
	}
	for len(kept) > 0 && len(strings.Join(kept, " ")) > maxSearchLineLen {
		kept, cut = kept[:len(kept)-1], true
	}
	return kept, cut
}

func withoutDuplicates(items []string) []string {
	if len(items) == 0 {
		return items
	}
	seen := make(map[string]bool, len(items))
	out := make([]string, 0, len(items))
	for _, s := range items {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// PodHostname is the pod's host name and, when it has a subdomain, its
// domain <subdomain>.<ns>.svc.<clusterDomain>: spec.hostnameOverride if set
// (then without a domain), else spec.hostname, else the pod name, cut to 63
// characters. The sandbox's host name is hostname, or hostname.domain with
// setHostnameAsFQDN.
func PodHostname(pod *v1.Pod, clusterDomain string) (hostname, domain string, err error) {
	if o := pod.Spec.HostnameOverride; o != nil {
		if msgs := validation.IsDNS1123Subdomain(*o); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod HostnameOverride %q is not a valid DNS subdomain: %s", *o, strings.Join(msgs, ";"))
		}
		hostname, err = truncateHostname(pod.Name, *o)
		return hostname, "", err
	}
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Hostname); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod Hostname %q is not a valid DNS label: %s", pod.Spec.Hostname, strings.Join(msgs, ";"))
		}
		hostname = pod.Spec.Hostname
	}
	if hostname, err = truncateHostname(pod.Name, hostname); err != nil {
		return "", "", err
	}
	if sub := pod.Spec.Subdomain; sub != "" {
		if msgs := validation.IsDNS1123Label(sub); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod Subdomain %q is not a valid DNS label: %s", sub, strings.Join(msgs, ";"))
		}
		domain = fmt.Sprintf("%s.%s.svc.%s", sub, pod.Namespace, clusterDomain)
	}
	return hostname, domain, nil
}

// truncateHostname cuts a host name to the 63 characters a kernel host name
// holds, without a trailing '-' or '.'.
func truncateHostname(podName, hostname string) (string, error) {
	const maxLen = 63
	if len(hostname) <= maxLen {
		return hostname, nil
	}
	cut := strings.TrimRight(hostname[:maxLen], "-.")
	if cut == "" {
		return "", fmt.Errorf("hostname for pod %q was invalid: %q", podName, hostname)
	}
	return cut, nil
}
