package kubelet

import (
	"context"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
	"kite/agent/kubelet/dnsconfig"
)

// sandboxHostname is the pod's host name, or its FQDN with
// setHostnameAsFQDN.
func sandboxHostname(pod *v1.Pod, clusterDomain string) (string, error) {
	hostname, domain, err := dnsconfig.PodHostname(pod, clusterDomain)
	if err != nil {
		return "", err
	}
	if domain != "" && pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN {
		return hostname + "." + domain, nil
	}
	return hostname, nil
}

// namespaceOptions maps hostNetwork/hostPID/hostIPC and
// shareProcessNamespace to CRI namespace modes.
func namespaceOptions(pod *v1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	return ns
}

// portMappings lists the hostPorts of every container.
func portMappings(pod *v1.Pod) []*runtimeapi.PortMapping {
	var out []*runtimeapi.PortMapping
	for _, c := range allContainers(pod) {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case v1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case v1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			out = append(out, &runtimeapi.PortMapping{
				Protocol:      proto,
				ContainerPort: p.ContainerPort,
				HostPort:      p.HostPort,
				HostIp:        p.HostIP,
			})
		}
	}
	return out
}

// podLabels are the pod's labels plus the kubelet's identifying ones.
func podLabels(pod *v1.Pod) map[string]string {
	labels := make(map[string]string, len(pod.Labels)+3)
	for k, v := range pod.Labels {
		labels[k] = v
	}
	labels[crilabels.PodName] = pod.Name
	labels[crilabels.PodNamespace] = pod.Namespace
	labels[crilabels.PodUID] = string(pod.UID)
	return labels
}

// anyPrivileged: the sandbox must be privileged when a container is.
func anyPrivileged(pod *v1.Pod) bool {
	for _, c := range allContainers(pod) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			return true
		}
	}
	return false
}

// sandboxConfig builds the CRI sandbox description of a pod.
func (k *Kubelet) sandboxConfig(pod *v1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	dns, err := dnsconfig.ForPod(pod, dnsconfig.Cluster{
		DNS:            k.cfg.ClusterDNS,
		Domain:         k.cfg.ClusterDomain,
		HostResolvConf: k.cfg.HostResolvConf,
	})
	if err != nil {
		return nil, fmt.Errorf("DNS configuration of pod %s: %w", podFullName(pod), err)
	}
	// A pod on the host network has the node's UTS namespace and so the
	// node's host name; asking for another one fails in the runtime.
	var hostname string
	if !pod.Spec.HostNetwork {
		if hostname, err = sandboxHostname(pod, k.cfg.ClusterDomain); err != nil {
			return nil, err
		}
	}
	sc := &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: namespaceOptions(pod),
		Privileged:       anyPrivileged(pod),
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = podSupplementalGroups(pod)
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name:      pod.Name,
			Namespace: pod.Namespace,
			Uid:       string(pod.UID),
			Attempt:   attempt,
		},
		Hostname:     hostname,
		LogDirectory: k.podLogDir(pod),
		DnsConfig:    dns,
		PortMappings: portMappings(pod),
		Labels:       podLabels(pod),
		Annotations:  pod.Annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    cgroupParent(pod),
			SecurityContext: sc,
			Sysctls:         podSysctls(pod),
		},
	}
	return cfg, nil
}

func podSysctls(pod *v1.Pod) map[string]string {
	if pod.Spec.SecurityContext == nil || len(pod.Spec.SecurityContext.Sysctls) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		out[s.Name] = s.Value
	}
	return out
}

// runtimeHandler resolves spec.runtimeClassName to its CRI handler.
func (k *Kubelet) runtimeHandler(ctx context.Context, pod *v1.Pod) (string, error) {
	if pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName == "" {
		return "", nil
	}
	rc, err := k.cfg.Client.NodeV1().RuntimeClasses().Get(ctx, *pod.Spec.RuntimeClassName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("runtime class %q of pod %s: %w", *pod.Spec.RuntimeClassName, podFullName(pod), err)
	}
	return rc.Handler, nil
}

// sandboxIPs are the pod's IPs: the sandbox's for pod networking, the
// node's for hostNetwork pods.
func (k *Kubelet) sandboxIPs(ctx context.Context, pod *v1.Pod, sandboxID string) ([]string, error) {
	if pod.Spec.HostNetwork {
		return k.sources.hostIPs(), nil
	}
	resp, err := k.cfg.Runtime.PodSandboxStatus(ctx, sandboxID, false)
	if err != nil {
		return nil, fmt.Errorf("status of sandbox %s: %w", sandboxID, err)
	}
	net := resp.GetStatus().GetNetwork()
	var ips []string
	if net.GetIp() != "" {
		ips = append(ips, net.GetIp())
	}
	for _, ip := range net.GetAdditionalIps() {
		if ip.GetIp() != "" {
			ips = append(ips, ip.GetIp())
		}
	}
	return ips, nil
}

// sandboxState is the sandbox a sync works with.
type sandboxState struct {
	ID     string
	Config *runtimeapi.PodSandboxConfig
	IPs    []string
}

// ensureSandbox returns a ready sandbox for the pod, creating one when
// there is none or the old one died. It returns nil, nil when the pod's
// restart policy forbids a new sandbox because its containers already ran.
func (k *Kubelet) ensureSandbox(ctx context.Context, pod *v1.Pod, rp *runtimePod) (*sandboxState, error) {
	latest := rp.latestSandbox()
	if latest != nil && latest.Ready {
		cfg, err := k.sandboxConfig(pod, latest.Attempt)
		if err != nil {
			return nil, err
		}
		ips, err := k.sandboxIPs(ctx, pod, latest.ID)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(k.hostsFilePath(pod.UID)); os.IsNotExist(err) {
			if err := k.writeHosts(pod, ips); err != nil {
				return nil, err
			}
		}
		return &sandboxState{ID: latest.ID, Config: cfg, IPs: ips}, nil
	}
	var attempt uint32
	if latest != nil {
		// The sandbox died under its containers (pause killed, node
		// rebooted): stop what is left and start over, as upstream does.
		k.recorder.Eventf(pod, v1.EventTypeNormal, reasonSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
		if err := k.killPod(ctx, pod, rp, nil); err != nil {
			return nil, err
		}
		if pod.Spec.RestartPolicy == v1.RestartPolicyNever && len(rp.Containers) > 0 {
			return nil, nil
		}
		attempt = latest.Attempt + 1
	}
	cfg, err := k.sandboxConfig(pod, attempt)
	if err != nil {
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailedSandbox, "Failed to create pod sandbox: %v", err)
		return nil, err
	}
	for _, dir := range []string{k.podDir(pod.UID), cfg.LogDirectory} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	handler, err := k.runtimeHandler(ctx, pod)
	if err != nil {
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailedSandbox, "Failed to create pod sandbox: %v", err)
		return nil, err
	}
	id, err := k.cfg.Runtime.RunPodSandbox(ctx, cfg, handler)
	if err != nil {
		k.recorder.Eventf(pod, v1.EventTypeWarning, reasonFailedSandbox, "Failed to create pod sandbox: %v", err)
		return nil, fmt.Errorf("run sandbox of pod %s: %w", podFullName(pod), err)
	}
	ips, err := k.sandboxIPs(ctx, pod, id)
	if err != nil {
		return nil, err
	}
	if err := k.writeHosts(pod, ips); err != nil {
		return nil, err
	}
	k.log.Info("started pod sandbox", "pod", podFullName(pod), "sandbox", id, "ips", ips)
	return &sandboxState{ID: id, Config: cfg, IPs: ips}, nil
}

func (k *Kubelet) writeHosts(pod *v1.Pod, podIPs []string) error {
	if err := dnsconfig.WriteHosts(k.hostsFilePath(pod.UID), pod, podIPs, k.cfg.ClusterDomain); err != nil {
		return fmt.Errorf("write hosts file of pod %s: %w", podFullName(pod), err)
	}
	return nil
}
