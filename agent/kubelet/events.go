package kubelet

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// EventRecorder is the part of client-go's record.EventRecorder the kubelet
// uses; any record.EventRecorder fits.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// Event reasons, as the upstream kubelet reports them.
const (
	reasonPulling             = "Pulling"
	reasonPulled              = "Pulled"
	reasonCreated             = "Created"
	reasonStarted             = "Started"
	reasonKilling             = "Killing"
	reasonBackOff             = "BackOff"
	reasonFailed              = "Failed"
	reasonUnhealthy           = "Unhealthy"
	reasonFailedPostStartHook = "FailedPostStartHook"
	reasonFailedPreStopHook   = "FailedPreStopHook"
	reasonFailedMount         = "FailedMount"
	reasonFailedSandbox       = "FailedCreatePodSandBox"
	reasonSandboxChanged      = "SandboxChanged"
	reasonInspectFailed       = "InspectFailed"
	reasonErrImageNeverPull   = "ErrImageNeverPull"
)

// newAPIEventRecorder writes core/v1 Events through the node's client, as
// the upstream kubelet does, with source component "kubelet" and the node
// as host.
func newAPIEventRecorder(client kubernetes.Interface, nodeName string) (EventRecorder, func()) {
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	rec := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: nodeName})
	return rec, broadcaster.Shutdown
}
