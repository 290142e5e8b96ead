package node

import (
	"fmt"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// notYetChecked is the Ready message before the first runtime check, as
// the kubelet words it.
const notYetChecked = "container runtime status check may not have completed yet"

// runtimeProblem turns a CRI Status answer into the Ready condition's
// message: empty when the runtime and its network are ready.
func runtimeProblem(resp *runtimeapi.StatusResponse, err error) string {
	if err != nil || resp == nil || resp.GetStatus() == nil {
		return "container runtime is down"
	}
	var runtimeReady, networkReady *runtimeapi.RuntimeCondition
	for _, c := range resp.GetStatus().GetConditions() {
		switch c.GetType() {
		case runtimeapi.RuntimeReady:
			runtimeReady = c
		case runtimeapi.NetworkReady:
			networkReady = c
		}
	}
	var errs []error
	if runtimeReady == nil || !runtimeReady.GetStatus() {
		errs = append(errs, fmt.Errorf("container runtime not ready: %s", describeCondition(runtimeReady)))
	}
	if networkReady == nil || !networkReady.GetStatus() {
		errs = append(errs, fmt.Errorf("container runtime network not ready: %s", describeCondition(networkReady)))
	}
	if agg := utilerrors.NewAggregate(errs); agg != nil {
		return agg.Error()
	}
	return ""
}

// describeCondition prints a runtime condition as the kubelet does:
// "NetworkReady=false reason:NetworkPluginNotReady message:...".
func describeCondition(c *runtimeapi.RuntimeCondition) string {
	if c == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s=%t reason:%s message:%s", c.GetType(), c.GetStatus(), c.GetReason(), c.GetMessage())
}
