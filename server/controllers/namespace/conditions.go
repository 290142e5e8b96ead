package namespace

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// deletionProgress is what one pass over a terminating namespace found.
type deletionProgress struct {
	errors     []string
	remaining  map[schema.GroupVersionResource]int
	finalizers map[string]int
}

func (p *deletionProgress) failed(gvr schema.GroupVersionResource, err error) {
	p.errors = append(p.errors, fmt.Sprintf("%s: %v", gvr.GroupResource(), err))
}

func (p *deletionProgress) remain(gvr schema.GroupVersionResource, items []metav1.PartialObjectMetadata) {
	if len(items) == 0 {
		return
	}
	if p.remaining == nil {
		p.remaining, p.finalizers = map[schema.GroupVersionResource]int{}, map[string]int{}
	}
	p.remaining[gvr] += len(items)
	for _, item := range items {
		for _, f := range item.Finalizers {
			p.finalizers[f]++
		}
	}
}

func (p *deletionProgress) done() bool { return len(p.errors) == 0 && len(p.remaining) == 0 }

// conditions are the namespace deletion conditions upstream's namespace
// controller maintains, each True with what is wrong or False with its
// all-clear reason and message.
func (p *deletionProgress) conditions() []corev1.NamespaceCondition {
	conds := []corev1.NamespaceCondition{
		{Type: corev1.NamespaceDeletionDiscoveryFailure, Status: corev1.ConditionFalse, Reason: "ResourcesDiscovered", Message: "All resources successfully discovered"},
		{Type: corev1.NamespaceDeletionGVParsingFailure, Status: corev1.ConditionFalse, Reason: "ParsedGroupVersions", Message: "All legacy kube types successfully parsed"},
		{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse, Reason: "ContentDeleted", Message: "All content successfully deleted, may be waiting on finalization"},
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse, Reason: "ContentRemoved", Message: "All content successfully removed"},
		{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionFalse, Reason: "ContentHasNoFinalizers", Message: "All content-preserving finalizers finished"},
	}
	if len(p.errors) > 0 {
		msgs := slices.Sorted(slices.Values(p.errors))
		conds[2] = corev1.NamespaceCondition{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, Reason: "ContentDeletionFailed",
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(msgs), strings.Join(msgs, ", "))}
	}
	if len(p.remaining) > 0 {
		var parts []string
		for gvr, n := range p.remaining {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
		slices.Sort(parts)
		conds[3] = corev1.NamespaceCondition{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain",
			Message: "Some resources are remaining: " + strings.Join(parts, ", ")}
	}
	if len(p.finalizers) > 0 {
		var parts []string
		for f, n := range p.finalizers {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		slices.Sort(parts)
		conds[4] = corev1.NamespaceCondition{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionTrue, Reason: "SomeFinalizersRemain",
			Message: "Some content in the namespace has finalizers remaining: " + strings.Join(parts, ", ")}
	}
	return conds
}

// reportProgress writes the deletion conditions to the namespace's status
// when they changed, keeping transition times of unchanged statuses.
func (c *Controller) reportProgress(ctx context.Context, ns *corev1.Namespace, p *deletionProgress) error {
	changed := false
	now := metav1.Now()
	for _, want := range p.conditions() {
		i := slices.IndexFunc(ns.Status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == want.Type })
		if i < 0 {
			want.LastTransitionTime = now
			ns.Status.Conditions = append(ns.Status.Conditions, want)
			changed = true
			continue
		}
		have := &ns.Status.Conditions[i]
		if have.Status == want.Status && have.Reason == want.Reason && have.Message == want.Message {
			continue
		}
		if have.Status != want.Status {
			have.LastTransitionTime = now
		}
		have.Status, have.Reason, have.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	if !changed {
		return nil
	}
	updated, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("reporting deletion progress: %w", err)
	}
	*ns = *updated
	return nil
}
