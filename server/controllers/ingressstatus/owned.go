package ingressstatus

import (
	"encoding/json"

	networkingv1 "k8s.io/api/networking/v1"
)

// FieldManager names this controller's status writes in managedFields.
const FieldManager = ControllerName

// wroteLoadBalancer tells whether the Ingress's status.loadBalancer.ingress
// was last set by this controller, as its managedFields record. Only then
// may it be cleared when kite stops serving the Ingress: a list another
// controller wrote (its class's, or one it set before kite's default
// flag) is never touched. The answer holds across restarts and leader
// changes, which a memory of past writes would not.
func wroteLoadBalancer(ing *networkingv1.Ingress) bool {
	for _, m := range ing.ManagedFields {
		if m.Manager != FieldManager || m.Subresource != "status" || m.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Status struct {
				LoadBalancer map[string]json.RawMessage `json:"f:loadBalancer"`
			} `json:"f:status"`
		}
		if err := json.Unmarshal(m.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		if _, ok := fields.Status.LoadBalancer["f:ingress"]; ok {
			return true
		}
	}
	return false
}
