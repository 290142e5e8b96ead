// Package crilabels names the CRI labels and annotations the kubelet puts
// on pod sandboxes and containers, as the upstream kubelet names them, so
// crictl and other tools read kite's containers the same way. The kubelet
// writes them; its streaming server reads them to find a pod's containers.
package crilabels

// Labels on sandboxes and containers.
const (
	PodName      = "io.kubernetes.pod.name"
	PodNamespace = "io.kubernetes.pod.namespace"
	PodUID       = "io.kubernetes.pod.uid"
	// ContainerName is on containers only.
	ContainerName = "io.kubernetes.container.name"
)

// Annotations on containers.
const (
	ContainerHashAnnotation             = "io.kubernetes.container.hash"
	RestartCountAnnotation              = "io.kubernetes.container.restartCount"
	TerminationMessagePathAnnotation    = "io.kubernetes.container.terminationMessagePath"
	TerminationMessagePolicyAnnotation  = "io.kubernetes.container.terminationMessagePolicy"
	PodTerminationGracePeriodAnnotation = "io.kubernetes.pod.terminationGracePeriod"
)
