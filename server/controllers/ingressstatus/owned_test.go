package ingressstatus

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWroteLoadBalancer(t *testing.T) {
	entry := func(manager, subresource, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{
			Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: subresource,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields),
		}
	}
	const lb = `{"f:status":{"f:loadBalancer":{"f:ingress":{}}}}`
	tests := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		want    bool
	}{
		{"ours", []metav1.ManagedFieldsEntry{entry("kubectl", "", `{"f:spec":{"f:rules":{}}}`), entry(FieldManager, "status", lb)}, true},
		{"another controller's", []metav1.ManagedFieldsEntry{entry("nginx-ingress-controller", "status", lb)}, false},
		{"ours without the list (it moved to another manager)", []metav1.ManagedFieldsEntry{entry(FieldManager, "status", `{"f:status":{"f:loadBalancer":{}}}`)}, false},
		{"our name on the main resource", []metav1.ManagedFieldsEntry{entry(FieldManager, "", lb)}, false},
		{"unparsable fields", []metav1.ManagedFieldsEntry{entry(FieldManager, "status", `{`)}, false},
		{"no managed fields", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{ManagedFields: tt.entries}}
			if got := wroteLoadBalancer(ing); got != tt.want {
				t.Errorf("wroteLoadBalancer = %v, want %v", got, tt.want)
			}
		})
	}
}
