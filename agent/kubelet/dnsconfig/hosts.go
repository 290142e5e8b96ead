package dnsconfig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// nodeHostsFile is the node's own hosts file, the base for host-network pods.
var nodeHostsFile = "/etc/hosts"

// WriteHosts writes the kubelet-managed /etc/hosts of pod to path. Off the
// host network it holds the localhost and IPv6 entries, each pod IP with the
// pod's host name (and FQDN when the pod has a subdomain), then the
// hostAliases; on the host network it is the node's hosts file plus the
// hostAliases. The file is rewritten in place, never replaced, so
// containers that bind-mount it see updates.
func WriteHosts(path string, pod *v1.Pod, podIPs []string, clusterDomain string) error {
	var content []byte
	if pod.Spec.HostNetwork {
		node, err := os.ReadFile(nodeHostsFile)
		if err != nil {
			return fmt.Errorf("read node hosts file: %w", err)
		}
		var b bytes.Buffer
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(node)
		writeAliases(&b, pod.Spec.HostAliases)
		content = b.Bytes()
	} else {
		hostname, domain, err := PodHostname(pod, clusterDomain)
		if err != nil {
			return err
		}
		content = managedHosts(podIPs, hostname, domain, pod.Spec.HostAliases)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create directory for hosts file: %w", err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("write hosts file: %w", err)
	}
	// WriteFile keeps the mode of an existing file; make it readable.
	if err := os.Chmod(path, 0o644); err != nil {
		return fmt.Errorf("chmod hosts file: %w", err)
	}
	return nil
}

func managedHosts(podIPs []string, hostname, domain string, aliases []v1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	writeAliases(&b, aliases)
	return b.Bytes()
}

func writeAliases(b *bytes.Buffer, aliases []v1.HostAlias) {
	if len(aliases) == 0 {
		return
	}
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range aliases {
		fmt.Fprintf(b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
}
