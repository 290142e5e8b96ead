package deployment

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rollbackTo reads the revision asked for by the deprecated rollback
// annotation (what the old extensions/v1beta1 rollback subresource left);
// nil when absent or unreadable. Today's kubectl rolls back on the client
// side by patching the template, which needs nothing from here: the old
// ReplicaSet simply becomes the new one again.
func rollbackTo(d *appsv1.Deployment) *int64 {
	v := d.Annotations[appsv1.DeprecatedRollbackTo]
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// rollback puts the template of the asked revision (0: the previous one)
// back into d and clears the request.
func (c *Controller) rollback(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rss, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	target := *rollbackTo(d)
	if target == 0 {
		if target = lastRevision(all); target == 0 {
			c.recorder.Eventf(d, nil, corev1.EventTypeWarning, reasonRollbackNotFound, "Rollback", "%s", "Unable to find last revision.")
			return c.clearRollback(ctx, d)
		}
	}
	for _, rs := range all {
		if v, err := revision(rs.Annotations); err != nil || v != target {
			continue
		}
		if equalIgnoringHash(&d.Spec.Template, &rs.Spec.Template) {
			c.recorder.Eventf(d, nil, corev1.EventTypeWarning, reasonRollbackUnchanged, "Rollback",
				"The rollback revision contains the same template as current deployment %q", d.Name)
			return c.clearRollback(ctx, d)
		}
		d.Spec.Template.ObjectMeta = rs.Spec.Template.ObjectMeta
		d.Spec.Template.Spec = rs.Spec.Template.Spec
		d.Spec.Template.Labels = withoutLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		// The annotations go back too, so the rolled-back-to ReplicaSet
		// keeps its own (a change-cause, say) rather than the current ones.
		setAnnotationsFrom(d, rs)
		if err := c.clearRollback(ctx, d); err != nil {
			return err
		}
		c.recorder.Eventf(d, nil, corev1.EventTypeNormal, reasonRollbackDone, "Rollback", "Rolled back deployment %q to revision %d", d.Name, target)
		return nil
	}
	c.recorder.Eventf(d, nil, corev1.EventTypeWarning, reasonRollbackNotFound, "Rollback", "%s", "Unable to find the revision to rollback to.")
	return c.clearRollback(ctx, d)
}

// clearRollback removes the rollback request and writes d.
func (c *Controller) clearRollback(ctx context.Context, d *appsv1.Deployment) error {
	delete(d.Annotations, appsv1.DeprecatedRollbackTo)
	_, err := c.client.AppsV1().Deployments(d.Namespace).Update(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("clearing the rollback request: %w", err)
	}
	return nil
}

// withoutLabel is a copy of m without key.
func withoutLabel(m map[string]string, key string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}
